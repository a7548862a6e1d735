"""Inference runs: a département's aerial photos classified block by block on GPU workers,
assembled into a draft vintage (`orchestration.py`)."""

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from apps.landcover.models import Vintage
from apps.ops.geofields import AnyCRSPolygonField
from apps.territories.models import Departement


class ModelVersion(models.Model):
    """The model registry: each checkpoint the platform knows, where it comes from (its parent,
    the data it was trained or fine-tuned on) and how it measured; the inference runs that used
    it point to it. A run started without a checkpoint picks the current one
    (`current_for`)."""

    class State(models.TextChoices):
        TRAINING = "training", _("affinage en cours")
        READY = "ready", _("prêt")
        FAILED = "failed", _("échec")

    name = models.CharField(_("nom"), max_length=120)
    checkpoint = models.CharField(_("checkpoint"), max_length=500, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    message = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("modèle de départ"),
    )
    # Fine-tuned for one département; none: a general model.
    departement = models.ForeignKey(
        Departement, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Per-class IoU and mIoU on held-out data, before (the parent) and after.
    metrics = models.JSONField(_("mesures"), default=dict, blank=True)
    # The training data: vintages and their revision, patches, held-out blocks, replay…
    provenance = models.JSONField(_("provenance"), default=dict, blank=True)
    active = models.BooleanField(_("retenu"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("version du modèle")
        verbose_name_plural = _("versions du modèle")

    def __str__(self):
        return self.name

    @classmethod
    def current_for(cls, departement):
        """The model a run of `departement` picks: its own newest retained fine-tuned model,
        else the newest retained general one."""
        retained = cls.objects.filter(active=True, state=cls.State.READY)
        return (
            retained.filter(departement=departement).first()
            or retained.filter(departement__isnull=True).first()
        )


class InferenceRun(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        RUNNING = "running", _("en cours")
        ASSEMBLING = "assembling", _("assemblage")
        DONE = "done", _("terminé")
        FAILED = "failed", _("échec")
        CANCELLED = "cancelled", _("annulé")

    FINISHED = (State.DONE, State.FAILED, State.CANCELLED)

    departement = models.ForeignKey(Departement, on_delete=models.CASCADE, related_name="+")
    rank = models.CharField(_("rang"), max_length=2, choices=Vintage.Rank.choices)
    millesime = models.PositiveSmallIntegerField(_("millésime"))
    rgb = models.CharField(_("raster RVB"), max_length=500)
    nir = models.CharField(_("raster proche infrarouge"), max_length=500)
    elevation = models.CharField(_("raster d'élévation"), max_length=500)
    checkpoint = models.CharField(_("modèle (checkpoint)"), max_length=500)
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("version du modèle"),
    )
    block_px = models.PositiveIntegerField(_("taille des blocs (px)"), default=8192)
    device = models.CharField(max_length=20, default="auto")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    blocks_total = models.PositiveIntegerField(default=0)
    blocks_done = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    vintage = models.ForeignKey(
        Vintage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("inférence")
        verbose_name_plural = _("inférences")

    def __str__(self):
        return f"{self.departement.code} {self.rank} — {self.get_state_display()}"

    @property
    def progress(self) -> float:
        if self.state == self.State.DONE:
            return 1.0
        return self.blocks_done / self.blocks_total if self.blocks_total else 0.0


class InferenceBlock(models.Model):
    """A window of the rasters (pixels), classified and vectorised by one task."""

    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminé")
        FAILED = "failed", _("échec")

    run = models.ForeignKey(InferenceRun, on_delete=models.CASCADE, related_name="blocks")
    index = models.PositiveIntegerField()
    col_off = models.PositiveIntegerField()
    row_off = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    polygons = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="uniq_run_block"),
        ]


class BlockPolygon(models.Model):
    """A block's polygons before assembly. A block replaces its own rows in one transaction,
    so a retried or duplicated block never duplicates polygons."""

    block = models.ForeignKey(InferenceBlock, on_delete=models.CASCADE, related_name="+")
    model_class = models.PositiveSmallIntegerField()
    confidence = models.FloatField()
    geom = AnyCRSPolygonField(spatial_index=False)
