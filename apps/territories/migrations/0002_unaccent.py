from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Accent-insensitive commune search (« evry » finds « Évry »)."""

    dependencies = [("territories", "0001_initial")]
    operations = [UnaccentExtension()]
