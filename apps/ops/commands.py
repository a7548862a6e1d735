"""The base of the platform's own management commands."""

from django.core.management.base import BaseCommand


class DataCommand(BaseCommand):
    """A command that works on data (imports, exports, computations, backups).

    It skips Django's system checks at start: they load every URL configuration, and so
    every view, DRF and the OpenAPI tooling — a third of a second before an import even
    opens its file. `manage.py check` runs them (CI, deployments, `make test`)."""

    requires_system_checks = []
