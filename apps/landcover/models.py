"""OCS GE nomenclature, vintages M1/M2 and their polygons with an append-only history."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.ops.geofields import AnyCRSMultiPolygonField
from apps.territories.models import Departement


class CoverCode(models.Model):
    """A land-cover code (CS) of the OCS GE nomenclature, with its official colour."""

    code = models.CharField(max_length=12, primary_key=True)
    label = models.CharField(_("libellé"), max_length=200)
    colour = models.CharField(_("couleur"), max_length=7)
    definition = models.CharField(_("définition"), max_length=300, blank=True, default="")

    class Meta:
        ordering = ["code"]
        verbose_name = _("code de couverture (CS)")
        verbose_name_plural = _("codes de couverture (CS)")

    def __str__(self):
        return f"{self.code} {self.label}"


class UseCode(models.Model):
    """A land-use code (US) of the OCS GE nomenclature."""

    code = models.CharField(max_length=12, primary_key=True)
    label = models.CharField(_("libellé"), max_length=200)
    colour = models.CharField(_("couleur"), max_length=7, default="#cccccc")
    definition = models.CharField(_("définition"), max_length=300, blank=True, default="")

    class Meta:
        ordering = ["code"]
        verbose_name = _("code d'usage (US)")
        verbose_name_plural = _("codes d'usage (US)")

    def __str__(self):
        return f"{self.code} {self.label}"


class CoverUsePair(models.Model):
    """A (CS, US) pair allowed in the product. Data, editable by an administrator."""

    cover = models.ForeignKey(CoverCode, on_delete=models.CASCADE, related_name="pairs")
    use = models.ForeignKey(UseCode, on_delete=models.CASCADE, related_name="pairs")

    class Meta:
        verbose_name = _("couple CS/US autorisé")
        verbose_name_plural = _("couples CS/US autorisés")
        constraints = [models.UniqueConstraint(fields=["cover", "use"], name="uniq_cs_us_pair")]

    def __str__(self):
        return f"{self.cover_id} × {self.use_id}"


class ModelClass(models.Model):
    """One of the 17 classes the segmentation model detects, mapped to a CS (or to nothing)."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    label = models.CharField(_("libellé"), max_length=100)
    cover = models.ForeignKey(
        CoverCode,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_classes",
        help_text=_("CS donné aux polygones de cette classe ; vide : un opérateur décide."),
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("classe du modèle")
        verbose_name_plural = _("classes du modèle")

    def __str__(self):
        return f"{self.id} {self.label}"


class Vintage(models.Model):
    """One vintage (M1 or M2) of the OCS GE of a département."""

    class Rank(models.TextChoices):
        M1 = "M1", "M1"
        M2 = "M2", "M2"

    class State(models.TextChoices):
        DRAFT = "draft", _("brouillon")
        IN_REVIEW = "in_review", _("en revue")
        CORRECTED = "corrected", _("corrigé")
        PUBLISHED = "published", _("publié")

    class Source(models.TextChoices):
        IMPORT = "import", _("import GeoPackage")
        INFERENCE = "inference", _("inférence")

    # Allowed state changes, in one table.
    TRANSITIONS = {
        State.DRAFT: {State.IN_REVIEW},
        State.IN_REVIEW: {State.CORRECTED, State.DRAFT},
        State.CORRECTED: {State.PUBLISHED, State.IN_REVIEW},
        State.PUBLISHED: set(),
    }

    departement = models.ForeignKey(Departement, on_delete=models.CASCADE, related_name="vintages")
    rank = models.CharField(_("rang"), max_length=2, choices=Rank.choices)
    millesime = models.PositiveSmallIntegerField(_("millésime"))
    state = models.CharField(_("état"), max_length=12, choices=State.choices, default=State.DRAFT)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    revision = models.PositiveIntegerField(
        _("révision"), default=1, help_text=_("Augmente à chaque correction (cache des tuiles).")
    )
    polygon_count = models.PositiveIntegerField(_("nombre de polygones"), default=0)
    feedback_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Augmente quand un signalement est déposé ou change de statut (tuiles)."),
    )
    feedback_open = models.BooleanField(
        _("boucle de retours ouverte"),
        default=False,
        help_text=_("Les contributeurs peuvent déposer des signalements sur ce millésime."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["departement__code", "rank"]
        verbose_name = _("millésime")
        verbose_name_plural = _("millésimes")
        constraints = [
            models.UniqueConstraint(fields=["departement", "rank"], name="uniq_vintage_rank")
        ]

    def __str__(self):
        return f"{self.departement.code} {self.rank} ({self.millesime})"

    @property
    def srid(self) -> int:
        """Its département's official CRS, in which its polygons are stored and measured."""
        return self.departement.srid

    def can_transition(self, new_state) -> bool:
        return new_state in self.TRANSITIONS[self.State(self.state)]

    def transition(self, new_state):
        if not self.can_transition(new_state):
            raise ValidationError(
                _("Passage de l'état « %(a)s » à « %(b)s » interdit.")
                % {"a": self.get_state_display(), "b": self.State(new_state).label}
            )
        self.state = new_state
        self.save(update_fields=["state"])


class LandCoverPolygon(models.Model):
    """A polygon of a vintage, in its current revision. History is in PolygonRevision."""

    # The table is partitioned by vintage (partitions.py, migration 0010): its primary key
    # is (id, vintage) in the database, and the unique (vintage, ocsge_id) index serves
    # lookups by vintage.
    vintage = models.ForeignKey(
        Vintage, on_delete=models.CASCADE, related_name="polygons", db_index=False
    )
    ocsge_id = models.CharField(_("identifiant OCS GE"), max_length=32)
    code_cs = models.CharField(max_length=12)
    code_us = models.CharField(max_length=12)
    millesime = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=64, blank=True, default="")
    ossature = models.SmallIntegerField(null=True, blank=True)
    id_origine = models.CharField(max_length=32, blank=True, default="")
    code_or = models.CharField(max_length=32, blank=True, default="")
    geom = AnyCRSMultiPolygonField(spatial_index=False)
    # Derived from geom. Bulk imports send them computed (in parallel worker threads); for
    # every other insert or update of geom a database trigger computes them, so they never
    # drift from geom (migration 0003).
    geom_3857 = models.MultiPolygonField(srid=3857, spatial_index=False, null=True, editable=False)
    area = models.FloatField(_("surface (m²)"), null=True, editable=False)
    model_class = models.PositiveSmallIntegerField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=1)
    # IGN's own artificialisation of the polygon as delivered (fields `artif` and
    # `crit_seuil` of recent OCS GE editions); null when the delivery has none. Kept as
    # delivered through corrections: the artificialisation app compares it with ours.
    ign_artif = models.BooleanField(_("artificialisé selon l'IGN"), null=True, editable=False)
    ign_crit_seuil = models.BooleanField(
        _("critère de seuil appliqué par l'IGN"), null=True, editable=False
    )

    class Meta:
        verbose_name = _("polygone")
        verbose_name_plural = _("polygones")
        indexes = [
            GistIndex(fields=["geom"], name="lcpoly_geom_gist"),
            GistIndex(fields=["geom_3857"], name="lcpoly_geom3857_gist"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["vintage", "ocsge_id"], name="uniq_poly_ocsge_id")
        ]

    def __str__(self):
        return f"{self.ocsge_id} {self.code_cs}/{self.code_us}"


class ChangePiece(models.Model):
    """A piece of the M1→M2 difference product: where the CS or the US changed.

    Set-based intersection of the two vintages' polygons (`difference.py`), kept current
    when a correction changes a polygon of either vintage.
    """

    departement = models.ForeignKey(
        Departement, on_delete=models.CASCADE, related_name="change_pieces"
    )
    # No database constraint: pieces are derived data, rebuilt by difference.py, and a
    # constraint would add a check per row when a million-polygon vintage is replaced.
    polygon_before = models.ForeignKey(
        LandCoverPolygon, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    polygon_after = models.ForeignKey(
        LandCoverPolygon, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    cs_avant = models.CharField(max_length=12)
    us_avant = models.CharField(max_length=12)
    cs_apres = models.CharField(max_length=12)
    us_apres = models.CharField(max_length=12)
    geom = AnyCRSMultiPolygonField(spatial_index=False)
    geom_3857 = models.MultiPolygonField(srid=3857, spatial_index=False)
    area = models.FloatField(_("surface (m²)"))

    class Meta:
        verbose_name = _("évolution M1→M2")
        verbose_name_plural = _("évolutions M1→M2")
        indexes = [
            GistIndex(fields=["geom"], name="change_geom_gist"),
            GistIndex(fields=["geom_3857"], name="change_geom3857_gist"),
        ]

    def __str__(self):
        return f"{self.cs_avant}/{self.us_avant} → {self.cs_apres}/{self.us_apres}"


class TileCache(models.Model):
    """Rendered tiles of a vintage, one row per tile, with the vintage revision each was
    built at. Low-zoom tiles (tiles.CACHE_MAX_ZOOM and below) read every polygon under a
    département-wide tile: built ahead by workers, rebuilt after a revision. Detail tiles
    (up to tiles.DETAIL_CACHE_MAX_ZOOM: their polygons' layer) are built by the first
    request and kept with the ids of the polygons they read, until a correction of one of
    them (`tiles.forget_statements`)."""

    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField()
    z = models.PositiveSmallIntegerField()
    x = models.PositiveIntegerField()
    y = models.PositiveIntegerField()
    data = models.BinaryField()
    # When a request last asked a worker to rebuild it (it was a revision behind).
    refresh_asked = models.DateTimeField(null=True, blank=True)
    # A detail tile's polygons (those drawn, and at z < 14 those aggregated into its cells).
    polygons = ArrayField(models.BigIntegerField(), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vintage", "z", "x", "y"], name="uniq_tile_cache_xyz")
        ]
        indexes = [GinIndex(fields=["polygons"], name="tile_cache_polygons")]


class ZoneConstruite(models.Model):
    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="zones_construites")
    ocsge_id = models.CharField(max_length=32)
    millesime = models.PositiveSmallIntegerField(null=True, blank=True)
    geom = AnyCRSMultiPolygonField()

    class Meta:
        verbose_name = _("zone construite")
        verbose_name_plural = _("zones construites")

    def __str__(self):
        return self.ocsge_id


class PolygonRevision(models.Model):
    """Append-only history of a polygon: one row per change (a DB trigger refuses UPDATE)."""

    class Cause(models.TextChoices):
        CORRECTION = "correction", _("correction d'un opérateur")
        SIGNALEMENT = "signalement", _("signalement accepté")
        INFERENCE = "inference", _("inférence")
        UNDO = "undo", _("annulation d'une décision")

    # No database constraint: the partitioned polygon table's key is (id, vintage) in the
    # database. Revisions are deleted with their vintage (gpkg._delete_vintage).
    polygon = models.ForeignKey(
        LandCoverPolygon, on_delete=models.CASCADE, related_name="revisions", db_constraint=False
    )
    revision = models.PositiveIntegerField()
    code_cs_before = models.CharField(max_length=12)
    code_us_before = models.CharField(max_length=12)
    code_cs_after = models.CharField(max_length=12)
    code_us_after = models.CharField(max_length=12)
    geom_before = AnyCRSMultiPolygonField(spatial_index=False)
    geom_after = AnyCRSMultiPolygonField(spatial_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    cause = models.CharField(max_length=20, choices=Cause.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["polygon", "revision"]
        verbose_name = _("révision de polygone")
        verbose_name_plural = _("révisions de polygone")
        constraints = [
            models.UniqueConstraint(fields=["polygon", "revision"], name="uniq_polygon_revision")
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("PolygonRevision is append-only.")
        super().save(*args, **kwargs)


class ImportJob(models.Model):
    """An import of a GeoPackage started from the admin, run by a Celery task."""

    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminé")
        FAILED = "failed", _("échec")

    file = models.FileField(_("livraison (.7z, .zip ou GeoPackage)"), upload_to="imports/")
    departement_code = models.CharField(_("code du département"), max_length=3)
    departement_name = models.CharField(_("nom (si nouveau)"), max_length=200, blank=True)
    rank = models.CharField(_("rang"), max_length=2, choices=Vintage.Rank.choices)
    reproject = models.BooleanField(
        _("reprojeter vers le système officiel du département"), default=False
    )
    repair = models.BooleanField(_("réparer les géométries invalides"), default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    message = models.TextField(blank=True, default="")
    vintage = models.ForeignKey(Vintage, on_delete=models.SET_NULL, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import GeoPackage")
        verbose_name_plural = _("imports GeoPackage")

    def __str__(self):
        return f"{self.departement_code} {self.rank} — {self.get_state_display()}"


class CoverSummary(models.Model):
    """Polygons and area of a vintage per CS code (the département page's table), derived
    after each change by the one hook (`derived.after_change`): grouping a million
    polygons took a second per page view."""

    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    code_cs = models.CharField(max_length=12)
    polygons = models.PositiveIntegerField()
    area = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vintage", "code_cs"], name="uniq_cover_summary")
        ]
