"""The polygon table becomes partitioned by vintage (LIST on vintage_id), one partition per
vintage (apps/landcover/partitions.py). Existing rows are moved into their partitions.

Constraint and index names stay Django's; the primary key becomes (id, vintage_id) in the
database (a partitioned table's unique keys must include the partition key), so the only
foreign key into the table (polygon revisions) is dropped first, as the signalements' was.
"""

import django.db.models.deletion
from django.db import migrations, models

# Both directions end with the same keys, indexes, foreign key and triggers.
COMMON = """\
ALTER TABLE landcover_landcoverpolygon
    ADD CONSTRAINT uniq_poly_ocsge_id UNIQUE (vintage_id, ocsge_id);
CREATE INDEX lcpoly_geom_gist ON landcover_landcoverpolygon USING gist (geom);
CREATE INDEX lcpoly_geom3857_gist ON landcover_landcoverpolygon USING gist (geom_3857);
ALTER TABLE landcover_landcoverpolygon
    ADD CONSTRAINT landcover_landcoverp_vintage_id_283d8b02_fk_landcover
    FOREIGN KEY (vintage_id) REFERENCES landcover_vintage (id) DEFERRABLE INITIALLY DEFERRED;
CREATE TRIGGER landcoverpolygon_derived_insert BEFORE INSERT ON landcover_landcoverpolygon
FOR EACH ROW EXECUTE FUNCTION landcover_polygon_derived();
CREATE TRIGGER landcoverpolygon_derived_update BEFORE UPDATE OF geom ON landcover_landcoverpolygon
FOR EACH ROW EXECUTE FUNCTION landcover_polygon_derived();
"""

FORWARD = """
CREATE SEQUENCE lcpoly_id_seq_p;
SELECT setval('lcpoly_id_seq_p', greatest(
    (SELECT last_value FROM landcover_landcoverpolygon_id_seq),
    (SELECT coalesce(max(id), 0) FROM landcover_landcoverpolygon), 1));
CREATE TABLE lcpoly_p (
    id bigint NOT NULL DEFAULT nextval('lcpoly_id_seq_p'),
    ocsge_id varchar(32) NOT NULL,
    code_cs varchar(12) NOT NULL,
    code_us varchar(12) NOT NULL,
    millesime smallint CONSTRAINT landcover_landcoverpolygon_millesime_check
        CHECK (millesime >= 0),
    source varchar(64) NOT NULL,
    ossature smallint,
    id_origine varchar(32) NOT NULL,
    code_or varchar(32) NOT NULL,
    geom geometry(MultiPolygon, 2154) NOT NULL,
    geom_3857 geometry(MultiPolygon, 3857),
    area double precision,
    model_class smallint CONSTRAINT landcover_landcoverpolygon_model_class_check
        CHECK (model_class >= 0),
    confidence double precision,
    revision integer NOT NULL CONSTRAINT landcover_landcoverpolygon_revision_check
        CHECK (revision >= 0),
    vintage_id bigint NOT NULL
) PARTITION BY LIST (vintage_id);
DO $$
DECLARE v bigint;
BEGIN
  FOR v IN SELECT id FROM landcover_vintage LOOP
    EXECUTE format(
      'CREATE TABLE landcover_landcoverpolygon_v%s PARTITION OF lcpoly_p FOR VALUES IN (%s)',
      v, v);
  END LOOP;
END $$;
INSERT INTO lcpoly_p SELECT * FROM landcover_landcoverpolygon;
DROP TABLE landcover_landcoverpolygon;
ALTER TABLE lcpoly_p RENAME TO landcover_landcoverpolygon;
ALTER SEQUENCE lcpoly_id_seq_p RENAME TO landcover_landcoverpolygon_id_seq;
ALTER SEQUENCE landcover_landcoverpolygon_id_seq OWNED BY landcover_landcoverpolygon.id;
ALTER TABLE landcover_landcoverpolygon
    ADD CONSTRAINT landcover_landcoverpolygon_pkey PRIMARY KEY (id, vintage_id);
{common}ANALYZE landcover_landcoverpolygon;
""".format(common=COMMON)

BACKWARD = """
CREATE TABLE lcpoly_u (LIKE landcover_landcoverpolygon INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO lcpoly_u SELECT * FROM landcover_landcoverpolygon;
ALTER SEQUENCE landcover_landcoverpolygon_id_seq OWNED BY lcpoly_u.id;
DROP TABLE landcover_landcoverpolygon CASCADE;
ALTER TABLE lcpoly_u RENAME TO landcover_landcoverpolygon;
ALTER TABLE landcover_landcoverpolygon
    ADD CONSTRAINT landcover_landcoverpolygon_pkey PRIMARY KEY (id);
{common}""".format(common=COMMON)


class Migration(migrations.Migration):
    dependencies = [
        ("landcover", "0009_tile_cache"),
        # the signalements' foreign key into the table must be gone first
        ("signalements", "0004_no_db_constraints"),
    ]

    operations = [
        migrations.AlterField(
            model_name="polygonrevision",
            name="polygon",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="revisions",
                to="landcover.landcoverpolygon",
            ),
        ),
        migrations.AlterField(
            model_name="landcoverpolygon",
            name="vintage",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="polygons",
                to="landcover.vintage",
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
