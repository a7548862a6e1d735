"""Artificialisation indicators, derived from the polygons (compute.py) and kept current.

All three tables are derived data, rebuilt set-based; none is edited by hand. The
threshold rule is applied per polygon over the whole département (patches cross commune
boundaries); the areas are then cut by commune, and territories above the commune (EPCI,
département, région) are sums of communes.
"""

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from apps.landcover.models import LandCoverPolygon, Vintage
from apps.territories.models import Commune, Departement


class ThresholdFlip(models.Model):
    """A polygon whose artificialisation differs from its (CS, US) rule by the threshold
    rule: a fill (enclosed non-artificialised patch < 2,500 m²) or a drop (the reverse).
    Patches are found over the whole département, whatever the commune boundaries."""

    class Step(models.TextChoices):
        FILL = "fill", _("enclave non artificialisée < 2 500 m² comptée artificialisée")
        DROP = "drop", _("îlot artificialisé < 2 500 m² compté non artificialisé")

    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    polygon = models.ForeignKey(
        LandCoverPolygon, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    step = models.CharField(max_length=4, choices=Step.choices)
    artif = models.BooleanField()

    class Meta:
        verbose_name = _("application du seuil de 2 500 m²")
        verbose_name_plural = _("applications du seuil de 2 500 m²")
        constraints = [
            models.UniqueConstraint(fields=["vintage", "polygon"], name="uniq_flip_polygon")
        ]


class ArtifStat(models.Model):
    """Area of a commune under one (CS, US) pair in a vintage, artificialised or not."""

    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    code_cs = models.CharField(max_length=12)
    code_us = models.CharField(max_length=12)
    artif = models.BooleanField()
    area = models.FloatField(_("surface (m²)"))

    class Meta:
        verbose_name = _("surface par commune et couple CS/US")
        verbose_name_plural = _("surfaces par commune et couple CS/US")
        indexes = [models.Index(fields=["vintage", "commune"], name="stat_vintage_commune")]


class ArtifFlow(models.Model):
    """Area of a commune that became artificialised (or stopped being) from M1 to M2,
    by (CS, US) before and after."""

    class Kind(models.TextChoices):
        ARTIF = "artif", _("artificialisation")
        DESARTIF = "desartif", _("désartificialisation")

    departement = models.ForeignKey(Departement, on_delete=models.CASCADE, related_name="+")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    cs_avant = models.CharField(max_length=12)
    us_avant = models.CharField(max_length=12)
    cs_apres = models.CharField(max_length=12)
    us_apres = models.CharField(max_length=12)
    area = models.FloatField(_("surface (m²)"))

    class Meta:
        verbose_name = _("flux d'artificialisation")
        verbose_name_plural = _("flux d'artificialisation")
        indexes = [models.Index(fields=["departement", "commune"], name="flow_dept_commune")]


class IgnComparison(models.Model):
    """Area of a commune where our artificialisation and IGN's own (the delivery's `artif`
    flags) agree or not, in a vintage, with the reason of each disagreement."""

    class Reason(models.TextChoices):
        AGREE = "", _("accord")
        CORRECTED = "corrected", _("polygone corrigé depuis la livraison")
        THRESHOLD = "threshold", _("seuil appliqué différemment")
        RULE = "rule", _("règle CS × US différente")

    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    ours = models.BooleanField(_("artificialisé (plateforme)"))
    ign = models.BooleanField(_("artificialisé (IGN)"))
    reason = models.CharField(max_length=9, choices=Reason.choices, blank=True)
    area = models.FloatField(_("surface (m²)"))

    class Meta:
        verbose_name = _("comparaison avec l'artificialisation de l'IGN")
        verbose_name_plural = _("comparaisons avec l'artificialisation de l'IGN")
        indexes = [models.Index(fields=["vintage", "commune"], name="ign_vintage_commune")]


class ArtifBaseline(models.Model):
    """The artificialised area of a vintage as delivered, before any correction (the quality
    report's « avant corrections »), computed by a worker for a revision of the vintage: the
    simulation restores every corrected polygon and recomputes what it can change (seconds
    on a million polygons), so no request computes it."""

    vintage = models.OneToOneField(Vintage, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField()
    area = models.FloatField(_("surface (m²)"), null=True)
    # When a request last asked a worker for the vintage's current revision.
    asked_at = models.DateTimeField(null=True, blank=True)
