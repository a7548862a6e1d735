"""The production calendar of a département (DESIGN §2), its feedback loops and its mails.

A plan is created from the template (`calendar.TEMPLATE`: month offsets from the start);
every milestone has a planned date, an actual date once done, and a state. The M1 and M2
feedback loops are open from their opening milestone's date to their closing one's
(`calendar.loop_window`); `loops.sync_loops` applies that to the vintages (Celery beat, or a
manager's action). Mails go through `OutboxMail`, one row per recipient and purpose, keyed
so that a retry or a second worker never sends one twice (`mail.py`).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.territories.models import Departement, Organisation


class Step(models.TextChoices):
    START = "start", _("Départ ; invitation à la réunion d'information")
    MEETING_INFO = (
        "meeting_info",
        _("1re réunion : produit, processus de production, calendrier, rôles"),
    )
    MEETING_TRAINING = (
        "meeting_training",
        _("2e réunion : formation des utilisateurs ; lancement de la boucle M1"),
    )
    M1_OPEN = "m1_open", _("M1 en ligne : boucle de retours M1 ouverte")
    M1_CLOSE = "m1_close", _("Fin de la boucle de retours M1")
    M1_RESULTS = "m1_results", _("Mail des résultats M1 aux utilisateurs")
    M2_OPEN = "m2_open", _("Lancement de la boucle M2 ; M2 en ligne")
    M2_CLOSE = "m2_close", _("Fin de la boucle de retours M2")
    M2_RESULTS = "m2_results", _("Résultats M2, rapport qualité M1+M2, publication")
    MEETING_REVIEW = (
        "meeting_review",
        _("3e réunion DDT + DREAL au niveau régional : bilan, cas d'usage"),
    )


MEETINGS = (Step.MEETING_INFO, Step.MEETING_TRAINING, Step.MEETING_REVIEW)


class ProductionPlan(models.Model):
    departement = models.OneToOneField(Departement, on_delete=models.CASCADE, related_name="plan")
    start_date = models.DateField(_("date de départ"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("plan de production")
        verbose_name_plural = _("plans de production")

    def __str__(self):
        return f"{self.departement} — {self.start_date}"


class Milestone(models.Model):
    class State(models.TextChoices):
        PLANNED = "planned", _("prévu")
        DONE = "done", _("fait")
        LATE = "late", _("en retard")

    plan = models.ForeignKey(ProductionPlan, on_delete=models.CASCADE, related_name="milestones")
    step = models.CharField(_("étape"), max_length=20, choices=Step.choices)
    order = models.PositiveSmallIntegerField()
    planned_date = models.DateField(_("date prévue"))
    actual_date = models.DateField(_("date effective"), null=True, blank=True)
    # Meetings only: when, where, who is invited.
    time = models.TimeField(_("heure"), null=True, blank=True)
    place = models.CharField(_("lieu"), max_length=300, blank=True)
    invitees = models.ManyToManyField(
        Organisation, blank=True, related_name="+", verbose_name=_("organisations invitées")
    )

    class Meta:
        ordering = ["plan", "order"]
        verbose_name = _("jalon")
        verbose_name_plural = _("jalons")
        constraints = [
            models.UniqueConstraint(fields=["plan", "step"], name="uniq_plan_step"),
        ]

    def __str__(self):
        return f"{self.plan.departement.code} {self.get_step_display()}"

    @property
    def is_meeting(self) -> bool:
        return self.step in MEETINGS

    @property
    def date(self):
        """The date that counts: actual when done, planned otherwise."""
        return self.actual_date or self.planned_date

    def state_on(self, today=None) -> str:
        today = today or timezone.localdate()
        if self.actual_date is not None:
            return self.State.DONE
        if self.planned_date < today:
            return self.State.LATE
        return self.State.PLANNED


class OutboxMail(models.Model):
    """A mail to send, once. `key` names its purpose and recipient (e.g.
    `loop-open:12:2026-05-01:user-7`): enqueuing it again does nothing."""

    class State(models.TextChoices):
        PENDING = "pending", _("à envoyer")
        SENT = "sent", _("envoyé")
        FAILED = "failed", _("échec")

    class Kind(models.TextChoices):
        ACCOUNT_INVITATION = "account_invitation", _("invitation à la plateforme")
        INVITATION = "invitation", _("invitation à une réunion")
        LOOP_OPEN = "loop_open", _("ouverture d'une boucle de retours")
        LOOP_REMINDER = "loop_reminder", _("rappel avant la fin d'une boucle")
        LOOP_CLOSE = "loop_close", _("fin d'une boucle de retours")
        RESULTS = "results", _("résultats aux contributeurs")
        DIGEST = "digest", _("résumé du jour aux opérateurs")
        NOTIFICATION = "notification", _("suite d'un signalement")
        NOTIFICATIONS = "notifications", _("suites des signalements du jour")

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(_("type"), max_length=40, choices=Kind.choices)
    departement = models.ForeignKey(
        Departement, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    recipient = models.EmailField(_("destinataire"))
    subject = models.CharField(_("objet"), max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # [{"filename", "mimetype", "content"}] (text content: .ics invitations)
    attachments = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("mail")
        verbose_name_plural = _("mails (boîte d'envoi)")
        indexes = [models.Index(fields=["state", "created_at"], name="outbox_state")]

    def __str__(self):
        return f"{self.kind} → {self.recipient}"


class Publication(models.Model):
    """The published package of a département: corrected M1 and M2 in the official layout,
    the M1→M2 difference, the artificialisation indicators per commune and a metadata file
    with checksums. Open data (Licence Ouverte 2.0), downloadable without an account."""

    class State(models.TextChoices):
        BUILDING = "building", _("en préparation")
        DONE = "done", _("publié")
        FAILED = "failed", _("échec")

    departement = models.OneToOneField(
        Departement, on_delete=models.CASCADE, related_name="publication"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    directory = models.CharField(max_length=300, blank=True)
    # [{"name", "size", "sha256", "description"}]
    files = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("publication")
        verbose_name_plural = _("publications")

    def __str__(self):
        return f"{self.departement} — {self.get_state_display()}"


class NotificationSetting(models.Model):
    """How a user hears of what happens to their signalements."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", _("à chaque fois, par courriel")
        DAILY = "daily", _("un courriel par jour au plus")
        NEVER = "never", _("jamais par courriel (sur le site seulement)")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_setting"
    )
    frequency = models.CharField(
        _("courriels"), max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE
    )

    class Meta:
        verbose_name = _("préférence de notification")
        verbose_name_plural = _("préférences de notification")

    def __str__(self):
        return f"{self.user} : {self.get_frequency_display()}"


class Notification(models.Model):
    """Something that happened to a user's signalement: its status changed, details were
    asked, a comment was left. Counted on « Mes signalements » until seen; mailed at once,
    in the day's mail, or never, as the user chose."""

    class What(models.TextChoices):
        STATUS = "status", _("changement de statut")
        QUESTION = "question", _("demande de précisions")
        COMMENT = "comment", _("commentaire")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    signalement = models.ForeignKey(
        "signalements.Signalement", on_delete=models.CASCADE, related_name="+"
    )
    what = models.CharField(max_length=10, choices=What.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "seen_at"])]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self):
        return self.text[:80]
