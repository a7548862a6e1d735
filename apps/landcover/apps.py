from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _vintage_saved(sender, instance, created, raw=False, **kwargs):
    from . import partitions

    # raw: loaddata restores rows (the partition may already be there: create is idempotent)
    if (created or raw) and not partitions.staged_by_caller_now():
        partitions.create(instance.pk)


def _vintage_deleted(sender, instance, **kwargs):
    from . import partitions

    partitions.drop(instance.pk)


class LandcoverConfig(AppConfig):
    name = "apps.landcover"
    verbose_name = "Occupation du sol"

    def ready(self):
        from .models import Vintage

        # Each vintage's polygons live in their own partition (see partitions.py).
        post_save.connect(_vintage_saved, sender=Vintage, dispatch_uid="vintage_partition")
        post_delete.connect(_vintage_deleted, sender=Vintage, dispatch_uid="vintage_partition")
