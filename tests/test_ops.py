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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_prepared_statement_is_prepared_once_per_connection_and_answers_as_written():
    """`ops.prepared`: the rows of the statement, for each parameter; one PREPARE per
    connection (none on the second call), a new connection preparing again; an EXECUTE
    that failed (a value of the wrong type, in a transaction) leaves the statement usable."""
    from django.db import DataError, connection, transaction

    from apps.ops.prepared import execute_prepared

    def run(a, b):
        with connection.cursor() as cur:
            execute_prepared(cur, "SELECT %s::int * 2, upper(%s)", [a, b])
            return cur.fetchone()

    def prepared_here():
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'ocsge_%%'")
            return cur.fetchone()[0]

    connection.close()
    table = [("first", run(2, "a"), prepared_here())]
    table.append(("second", run(5, "b"), prepared_here()))
    with pytest.raises(DataError), transaction.atomic():
        run("not a number", "c")
    table.append(("after a failure", run(7, "d"), prepared_here()))
    connection.close()
    table.append(("new connection", run(1, "e"), prepared_here()))
    assert table == [
        ("first", (4, "A"), 1),
        ("second", (10, "B"), 1),
        ("after a failure", (14, "D"), 1),
        ("new connection", (2, "E"), 1),
    ]
    with pytest.raises(ValueError), connection.cursor() as cur:
        execute_prepared(cur, "SELECT %(a)s", {"a": 1})
