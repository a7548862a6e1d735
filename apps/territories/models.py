"""Territories (régions, départements, communes), organisations and memberships.

Who may do what where is decided by `permissions` (beside this module), on these models.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.ops.geofields import AnyCRSMultiPolygonField
from ocsge.crs import official_epsg

SRID_L93 = 2154


class Region(models.Model):
    code = models.CharField(_("code INSEE"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    geom = AnyCRSMultiPolygonField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("région")
        verbose_name_plural = _("régions")

    def __str__(self):
        return f"{self.code} {self.name}"


class DepartementManager(models.Manager):
    """Départements without their outline unless it is used: the outline (the union of the
    département's polygons) is megabytes for a real one, and most uses need the code, name
    and CRS only. Reading `departement.geom` loads it."""

    def get_queryset(self):
        return super().get_queryset().defer("geom")


class Departement(models.Model):
    code = models.CharField(_("code INSEE"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="departements"
    )
    # In the département's official CRS (`srid`), as its communes and polygons.
    geom = AnyCRSMultiPolygonField(null=True, blank=True)

    objects = DepartementManager()

    class Meta:
        ordering = ["code"]
        base_manager_name = "objects"  # `vintage.departement` too
        verbose_name = _("département")
        verbose_name_plural = _("départements")

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def srid(self) -> int:
        """EPSG code of the official CRS, in which its geometries are stored and measured:
        Lambert-93, or the DROM's own UTM projection (`ocsge.crs`)."""
        return official_epsg(self.code)


class Epci(models.Model):
    """An établissement public de coopération intercommunale (ADMIN EXPRESS layer EPCI)."""

    siren = models.CharField(_("SIREN"), max_length=9, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    nature = models.CharField(_("nature"), max_length=100, blank=True)

    class Meta:
        ordering = ["siren"]
        verbose_name = _("EPCI")
        verbose_name_plural = _("EPCI")

    def __str__(self):
        return self.name


class Commune(models.Model):
    code = models.CharField(_("code INSEE"), max_length=5, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    departement = models.ForeignKey(Departement, on_delete=models.CASCADE, related_name="communes")
    # As delivered: a SIREN, « NR »/« NC » (none), or several joined by « / » (an EPT and
    # its métropole); `epcis` holds the EPCI the commune belongs to.
    siren_epci = models.CharField(_("SIREN de l'EPCI"), max_length=60, blank=True)
    epcis = models.ManyToManyField(Epci, related_name="communes", blank=True)
    geom = AnyCRSMultiPolygonField()

    class Meta:
        ordering = ["code"]
        verbose_name = _("commune")
        verbose_name_plural = _("communes")

    def __str__(self):
        return f"{self.code} {self.name}"


class Role(models.TextChoices):
    CONTRIBUTOR = "contributor", _("contributeur")
    OPERATOR = "operator", _("opérateur IGN")
    MANAGER = "manager", _("responsable de production IGN")
    REVIEWER = "reviewer", _("relecteur DDT / DREAL")
    ADMIN = "admin", _("administrateur")


class Organisation(models.Model):
    class Kind(models.TextChoices):
        COLLECTIVITE = "collectivite", _("collectivité")
        EPCI = "epci", _("EPCI")
        AGENCE = "agence_urbanisme", _("agence d'urbanisme")
        DDT = "ddt", _("DDT")
        DREAL = "dreal", _("DREAL")
        IGN = "ign", _("IGN")

    name = models.CharField(_("nom"), max_length=200, unique=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    # Its territory: a région (DREAL), départements (DDT, IGN), or communes (collectivités).
    regions = models.ManyToManyField(Region, blank=True, related_name="organisations")
    departements = models.ManyToManyField(Departement, blank=True, related_name="organisations")
    communes = models.ManyToManyField(Commune, blank=True, related_name="organisations")

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name

    def departement_ids(self):
        """Ids of the départements this organisation's territory touches."""
        return Departement.objects.filter(
            Q(organisations=self) | Q(region__organisations=self) | Q(communes__organisations=self)
        ).values_list("id", flat=True)


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)

    class Meta:
        verbose_name = _("appartenance")
        verbose_name_plural = _("appartenances")
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="uniq_membership")
        ]

    def __str__(self):
        return f"{self.user} — {self.organisation} ({self.get_role_display()})"
