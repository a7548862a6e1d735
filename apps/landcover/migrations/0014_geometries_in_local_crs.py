"""Geometry columns with no SRID constraint: each département's geometries in its official
CRS (docs/crs.md). The trigger keeping the derived columns (it names `geom`) is dropped
around the change of type, and recreated as it was."""

import apps.ops.geofields
from django.db import migrations

TRIGGER = """
CREATE TRIGGER landcoverpolygon_derived_update BEFORE UPDATE OF geom ON landcover_landcoverpolygon
FOR EACH ROW EXECUTE FUNCTION landcover_polygon_derived();
"""
DROP = "DROP TRIGGER landcoverpolygon_derived_update ON landcover_landcoverpolygon;"


class Migration(migrations.Migration):

    dependencies = [
        ('landcover', '0013_ign_artificialisation'),
    ]

    operations = [
        migrations.RunSQL(DROP, TRIGGER),
        migrations.AlterField(
            model_name='changepiece',
            name='geom',
            field=apps.ops.geofields.AnyCRSMultiPolygonField(spatial_index=False),
        ),
        migrations.AlterField(
            model_name='landcoverpolygon',
            name='geom',
            field=apps.ops.geofields.AnyCRSMultiPolygonField(spatial_index=False),
        ),
        migrations.AlterField(
            model_name='polygonrevision',
            name='geom_after',
            field=apps.ops.geofields.AnyCRSMultiPolygonField(spatial_index=False),
        ),
        migrations.AlterField(
            model_name='polygonrevision',
            name='geom_before',
            field=apps.ops.geofields.AnyCRSMultiPolygonField(spatial_index=False),
        ),
        migrations.AlterField(
            model_name='zoneconstruite',
            name='geom',
            field=apps.ops.geofields.AnyCRSMultiPolygonField(),
        ),
        migrations.RunSQL(TRIGGER, DROP),
    ]
