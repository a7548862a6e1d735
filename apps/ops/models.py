from django.db import models
from django.utils.translation import gettext_lazy as _


class DeferredTask(models.Model):
    """A task that could not reach the broker (Redis down): kept here and sent by
    `redispatch_deferred` once the broker answers again (dispatch.py)."""

    name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("tâche en attente du courtier")
        verbose_name_plural = _("tâches en attente du courtier")

    def __str__(self):
        return f"{self.name}{tuple(self.args)}"
