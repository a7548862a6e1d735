from django.db import migrations

COLUMNS = [
    ("landcover_landcoverpolygon", "geom"),
    ("landcover_landcoverpolygon", "geom_3857"),
    ("landcover_polygonrevision", "geom_before"),
    ("landcover_polygonrevision", "geom_after"),
]


class Migration(migrations.Migration):
    """Large outlines (a road network's 12 MB) compressed with lz4 rather than pglz: written
    in 50 ms instead of 360 ms, read in half the time, for a third more space. Applies to
    what is written from now on (and to new partitions: they are created LIKE the parent,
    compression included)."""

    dependencies = [("landcover", "0016_tile_cache_per_tile")]

    operations = [
        # Each existing partition too (the parent's change does not reach every column).
        migrations.RunSQL(
            """
            DO $$ DECLARE r record; BEGIN
              FOR r IN SELECT inhrelid::regclass AS child FROM pg_inherits
                       WHERE inhparent = 'landcover_landcoverpolygon'::regclass LOOP
                EXECUTE format('ALTER TABLE %s ALTER COLUMN geom SET COMPRESSION lz4, '
                               'ALTER COLUMN geom_3857 SET COMPRESSION lz4', r.child);
              END LOOP;
            END $$;
            """,
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            [
                f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4"
                for table, column in COLUMNS
            ],
            [
                f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz"
                for table, column in COLUMNS
            ],
        )
    ]
