from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.landcover.models import LandCoverPolygon, Vintage
from apps.ops.geofields import AnyCRSPointField, AnyCRSPolygonField
from apps.territories.models import Organisation

from .transitions import Action, Status


class RejectionReason(models.Model):
    """Why a signalement was rejected: data, so the results mail can explain each one."""

    class Applies(models.TextChoices):
        OUT_OF_SPEC = Status.REJECTED_OUT_OF_SPEC.value, Status.REJECTED_OUT_OF_SPEC.label
        IRRELEVANT = Status.REJECTED_IRRELEVANT.value, Status.REJECTED_IRRELEVANT.label

    code = models.SlugField(unique=True)
    label = models.CharField(_("libellé"), max_length=200)
    applies_to = models.CharField(_("décision"), max_length=24, choices=Applies.choices)
    explanation = models.TextField(_("explication pour le courriel"), blank=True)
    active = models.BooleanField(_("actif"), default=True)

    class Meta:
        ordering = ["applies_to", "label"]
        verbose_name = _("motif de rejet")
        verbose_name_plural = _("motifs de rejet")

    def __str__(self):
        return self.label


class Signalement(models.Model):
    class Kind(models.TextChoices):
        CONTRIBUTION = "contribution", _("signalement")
        # Filed by the platform after a correction of the other vintage (`coherence`).
        COHERENCE = "coherence", _("cohérence M1/M2")
        # Filed by the platform where a re-run of the model disagrees (`model_proposals`).
        MODEL = "model", _("proposition du modèle")

    kind = models.CharField(
        _("nature"), max_length=16, choices=Kind.choices, default=Kind.CONTRIBUTION
    )
    # What a platform proposal follows from: the accepted signalement of the other vintage.
    origin = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proposals",
        verbose_name=_("origine"),
    )
    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="signalements")
    # No database constraint (a check per row when a vintage's million polygons are
    # replaced); a vintage with signalements is never replaced (gpkg.import_ocsge refuses).
    polygon = models.ForeignKey(
        LandCoverPolygon,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signalements",
        db_constraint=False,
    )
    # Where it is (the clicked point, or a point on the drawn shape): markers, territory.
    location = AnyCRSPointField()
    # A drawn shape, where the boundary is wrong (the polygon must be split).
    geom = AnyCRSPolygonField(null=True, blank=True)
    code_cs_current = models.CharField(_("CS actuelle"), max_length=12)
    code_us_current = models.CharField(_("US actuel"), max_length=12)
    code_cs_proposed = models.CharField(_("CS proposée"), max_length=12)
    code_us_proposed = models.CharField(_("US proposé"), max_length=12)
    comment = models.TextField(_("commentaire"), blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signalements"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="signalements"
    )
    status = models.CharField(
        _("statut"), max_length=24, choices=Status.choices, default=Status.SUBMITTED
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.ForeignKey(RejectionReason, on_delete=models.PROTECT, null=True, blank=True)
    decision_message = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    area = models.FloatField(_("surface concernée (m²)"), default=0.0)
    # The model's confidence on the polygon when it was filed (sorts the queue without a join).
    model_confidence = models.FloatField(_("confiance du modèle"), null=True, blank=True)
    # Change of the artificialised area (m²) of the communes concerned if it is accepted,
    # estimated when it is filed (apps.artif.impact); null when no indicators were computed.
    artif_impact = models.FloatField(_("effet sur l'artificialisation (m²)"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("signalement")
        verbose_name_plural = _("signalements")
        indexes = [
            # (`location` has its GiST index from the field: a second one, declared here
            # before, doubled the index writes of every filing.)
            models.Index(fields=["vintage", "status"], name="sig_vintage_status"),
        ]
        constraints = [
            # One proposal per origin and polygon: a retried task files nothing twice.
            models.UniqueConstraint(
                fields=["origin", "polygon"],
                condition=models.Q(origin__isnull=False),
                name="uniq_proposal_per_origin_polygon",
            )
        ]

    def __str__(self):
        return (
            f"#{self.pk} {self.code_cs_current}/{self.code_us_current} → "
            f"{self.code_cs_proposed}/{self.code_us_proposed}"
        )


class SignalementEvent(models.Model):
    """Append-only journal of a signalement: every change of status, by whom, why."""

    signalement = models.ForeignKey(Signalement, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    action = models.CharField(
        max_length=24,
        choices=[("file", _("déposer")), *Action.choices, ("undo", _("annuler la décision"))],
    )
    from_status = models.CharField(max_length=24, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=Status.choices)
    reason = models.ForeignKey(RejectionReason, on_delete=models.PROTECT, null=True, blank=True)
    message = models.TextField(blank=True)
    # An accept's correction: {"polygon": id, "revision": its revision after, "pieces": ids
    # split off} — what undoing it restores.
    corrected = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["signalement", "created_at", "id"]
        verbose_name = _("événement")
        verbose_name_plural = _("événements")

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("SignalementEvent is append-only.")
        super().save(*args, **kwargs)


class SignalementComment(models.Model):
    signalement = models.ForeignKey(Signalement, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    text = models.TextField(_("texte"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("commentaire")
        verbose_name_plural = _("commentaires")


class Attachment(models.Model):
    signalement = models.ForeignKey(
        Signalement, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to="signalements/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("pièce jointe")
        verbose_name_plural = _("pièces jointes")


class SavedFilter(models.Model):
    """A selection of the queue (its filters and order) a user keeps under a name, per
    département."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    departement = models.ForeignKey(
        "territories.Departement", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("nom"), max_length=80)
    query = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("sélection enregistrée")
        verbose_name_plural = _("sélections enregistrées")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "departement", "name"], name="uniq_saved_filter_name"
            )
        ]


class BatchFiling(models.Model):
    """A file of proposals being filed (`batch.py`): read and refused as a whole at once, then
    its rows checked and filed by a worker, which counts them as it goes (the page shows the
    progress), and each row's fate kept for the report."""

    class State(models.TextChoices):
        QUEUED = "queued", _("en attente")
        CHECKING = "checking", _("vérification des lignes")
        FILING = "filing", _("dépôt")
        DONE = "done", _("terminé")
        FAILED = "failed", _("échec")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    vintage = models.ForeignKey(Vintage, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("fichier"), max_length=255)
    all_or_nothing = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(default=0)
    checked = models.PositiveIntegerField(default=0)
    filed = models.PositiveIntegerField(default=0)
    rows = models.JSONField(default=list)  # the rows read, until they are checked
    outcomes = models.JSONField(default=list)  # each row's fate: number, filed, id, message
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("dépôt depuis un fichier")
        verbose_name_plural = _("dépôts depuis un fichier")

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)
