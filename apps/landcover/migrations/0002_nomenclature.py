from django.db import migrations


def load(apps, schema_editor):
    from ocsge import nomenclature as n

    CoverCode = apps.get_model("landcover", "CoverCode")
    UseCode = apps.get_model("landcover", "UseCode")
    CoverUsePair = apps.get_model("landcover", "CoverUsePair")
    ModelClass = apps.get_model("landcover", "ModelClass")
    CoverCode.objects.bulk_create(
        [CoverCode(code=c, label=lab, colour=col) for c, (lab, col) in n.cover_codes().items()]
    )
    UseCode.objects.bulk_create([UseCode(code=c, label=lab) for c, lab in n.use_codes().items()])
    CoverUsePair.objects.bulk_create(
        [CoverUsePair(cover_id=cs, use_id=us) for cs, us in sorted(n.valid_pairs())]
    )
    ModelClass.objects.bulk_create(
        [ModelClass(id=i, label=lab, cover_id=cs) for i, lab, cs in n.model_classes()]
    )


def unload(apps, schema_editor):
    for name in ("ModelClass", "CoverUsePair", "UseCode", "CoverCode"):
        apps.get_model("landcover", name).objects.all().delete()


APPEND_ONLY = """
CREATE OR REPLACE FUNCTION landcover_revision_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'landcover_polygonrevision is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER polygonrevision_append_only BEFORE UPDATE ON landcover_polygonrevision
FOR EACH ROW EXECUTE FUNCTION landcover_revision_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS polygonrevision_append_only ON landcover_polygonrevision;
DROP FUNCTION IF EXISTS landcover_revision_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("landcover", "0001_initial")]
    operations = [
        migrations.RunPython(load, unload),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
