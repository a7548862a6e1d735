"""GeoParquet copies of a vintage (the open-data package, issue 21): the same rows and
fields as the OCS GE GeoPackage, the geometry as WKB in the département's CRS, with the
GeoParquet 1.1 `geo` metadata (CRS as PROJJSON, bounding box, geometry types) that GDAL,
geopandas, DuckDB and QGIS read. Streamed from PostGIS in chunks: memory stays bounded
on a million polygons."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import connection, transaction
from pyproj import CRS

from .gpkg import polygon_chunks
from .models import LandCoverPolygon, Vintage

SCHEMA = [
    ("id", pa.string()),
    ("code_cs", pa.string()),
    ("code_us", pa.string()),
    ("millesime", pa.int16()),
    ("source", pa.string()),
    ("ossature", pa.int16()),
    ("id_origine", pa.string()),
    ("code_or", pa.string()),
    ("geometry", pa.binary()),
]


def _geo_metadata(srid: int, bbox: list[float]) -> bytes:
    return json.dumps(
        {
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {
                "geometry": {
                    "encoding": "WKB",
                    "geometry_types": ["MultiPolygon"],
                    "crs": CRS.from_epsg(srid).to_json_dict(),
                    "bbox": bbox,
                }
            },
        }
    ).encode()


def export_geoparquet(vintage: Vintage, out_path, chunk: int = 50_000) -> int:
    """Write the vintage's current revision as GeoParquet; return the number of rows."""
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".part.parquet")
    table = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            f"FROM (SELECT ST_Extent(geom) AS e FROM {table} WHERE vintage_id = %s) x",
            [vintage.pk],
        )
        bbox = [float(v) if v is not None else 0.0 for v in cur.fetchone()]
    schema = pa.schema(SCHEMA).with_metadata({"geo": _geo_metadata(vintage.srid, bbox)})
    written = 0
    with (
        transaction.atomic(),
        connection.cursor() as cur,
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
    ):
        for batch in polygon_chunks(cur, vintage, chunk):
            columns = list(zip(*batch, strict=True))
            columns[8] = [bytes(g) for g in columns[8]]
            writer.write_table(
                pa.Table.from_arrays(
                    [
                        pa.array(values, type=kind)
                        for values, (_name, kind) in zip(columns, SCHEMA, strict=True)
                    ],
                    schema=schema,
                )
            )
            written += len(batch)
    tmp.replace(out_path)
    return written
