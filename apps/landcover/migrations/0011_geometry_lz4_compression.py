"""Polygon geometries compressed with lz4 instead of PostgreSQL's default pglz.

A row holds two copies of its geometry (Lambert-93 and Web Mercator), so most rows pass the
2 kB TOAST threshold and PostgreSQL tries to compress them on every write. pglz spends a lot
of CPU on coordinates, which barely compress: measured on a 115,160-polygon COPY, the
server took 3.2 s with pglz and 1.45 s with lz4, for 180 MB vs 186 MB on disk
(docs/benchmarks.md). Partitions get the setting from the parent (`partitions.stage` copies it).
Servers built without lz4 keep pglz: the migration then changes nothing.
"""

from django.db import migrations

TABLES = ("landcover_landcoverpolygon", "landcover_changepiece")


def _set(method: str) -> str:
    alters = "\n".join(
        f"ALTER TABLE {table} ALTER COLUMN geom SET COMPRESSION {method}, "
        f"ALTER COLUMN geom_3857 SET COMPRESSION {method};"
        for table in TABLES
    )
    return f"""
DO $$
DECLARE part regclass;
BEGIN
{alters}
-- Existing partitions too (the setting applies to values written from now on).
FOR part IN SELECT inhrelid::regclass FROM pg_inherits
            WHERE inhparent = 'landcover_landcoverpolygon'::regclass LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN geom SET COMPRESSION {method}, '
                   'ALTER COLUMN geom_3857 SET COMPRESSION {method}', part);
END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: geometries stay compressed with pglz';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("landcover", "0010_partition_polygons_by_vintage")]

    operations = [migrations.RunSQL(_set("lz4"), _set("pglz"))]
