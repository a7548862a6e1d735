"""Backups: a dump restored into a fresh database holds every signalement and revision."""

import os

import psycopg
import pytest
from django.core.management import CommandError, call_command

from apps.landcover.models import PolygonRevision
from apps.ops.backup import dsn
from apps.signalements import decisions
from apps.signalements.models import Signalement

from .helpers import file, grass_polygon


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backup_restored_into_a_fresh_database_has_every_signalement_and_revision(
    world,
    tmp_path,
    settings,
):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "signalements").mkdir(parents=True)
    (tmp_path / "media" / "signalements" / "photo.jpg").write_bytes(b"\xff\xd8 photo")
    s = file(world)
    decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    file(world, user="colleague", polygon_id=grass_polygon(world, 2, 2).pk)
    call_command("backup", dir=tmp_path / "backups")
    dump = next((tmp_path / "backups").glob("ocsge-*.dump"))
    media = next((tmp_path / "backups").glob("media-*.tar.gz"))
    fresh = f"restore_check_{os.getpid()}"
    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {fresh}")
        admin.execute(f"CREATE DATABASE {fresh}")
    try:
        settings.MEDIA_ROOT = tmp_path / "restored_media"
        call_command("restore", str(dump), media=media, database=fresh)
        with psycopg.connect(dsn(fresh)) as restored:
            sigs = restored.execute(
                "SELECT id, status, code_cs_proposed FROM signalements_signalement ORDER BY id"
            ).fetchall()
            revisions = restored.execute(
                "SELECT count(*) FROM landcover_polygonrevision"
            ).fetchone()[0]
            postgis = restored.execute("SELECT postgis_version()").fetchone()[0]
    finally:
        with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")
    assert sigs == list(
        Signalement.objects.order_by("id").values_list("id", "status", "code_cs_proposed")
    )
    # The two filed, and the platform's M1 proposal after the accept (the task ran eagerly).
    assert len(sigs) == 3 and revisions == PolygonRevision.objects.count() >= 1
    assert postgis
    assert (tmp_path / "restored_media" / "signalements" / "photo.jpg").read_bytes() == (
        b"\xff\xd8 photo"
    )


def test_restore_of_a_missing_dump_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command("restore", str(tmp_path / "none.dump"))
