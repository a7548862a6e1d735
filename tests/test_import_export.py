"""import_ocsge / export_ocsge / load_territories against the real PostGIS."""

import numpy as np
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.core.management import CommandError, call_command
from django.db import connection

from apps.landcover import partitions
from apps.landcover.gpkg import ImportRefused, export_ocsge, import_ocsge
from apps.landcover.models import LandCoverPolygon, Vintage, ZoneConstruite
from apps.territories.models import Commune, Departement, Region

from .conftest import X0, Y0, square_rows, write_gpkg

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Departement.objects.count(),
        Vintage.objects.count(),
        LandCoverPolygon.objects.count(),
        _polygon_tables(),
    )


def _polygon_tables():
    """Tables of the polygon table's family (partitions, and any staged table left over)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relname LIKE 'landcover_landcoverpolygon%%' ORDER BY relname"
        )
        return [r[0] for r in cur.fetchall()]


# A vintage's partition: the primary key, the unique ids, a GiST index on each geometry.
PARTITION_INDEXES = [
    "btree (id, vintage_id)",
    "btree (vintage_id, ocsge_id)",
    "gist (geom)",
    "gist (geom_3857)",
]


def _partition_indexes(vintage_id):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [partitions.name(vintage_id)],
        )
        return sorted(r[0].split(" USING ")[1] for r in cur.fetchall())


def _is_partition(vintage_id):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s) "
            "AND inhparent = 'landcover_landcoverpolygon'::regclass",
            [partitions.name(vintage_id)],
        )
        return cur.fetchone()[0] == 1


@pytest.fixture
def loaded(small_departement):
    out, _ = small_departement
    call_command("load_territories", str(out / "territoires.gpkg"))
    return out


def test_it_imports_a_generated_vintage_with_zones_and_web_mercator_copy(loaded):
    vintage = import_ocsge(loaded / "ocsge_M1.gpkg", "99", "M1")
    src = pyogrio.read_dataframe(loaded / "ocsge_M1.gpkg", layer="OCCUPATION_SOL")
    assert vintage.polygon_count == len(src) == LandCoverPolygon.objects.count()
    assert vintage.millesime == 2021 and vintage.source == Vintage.Source.IMPORT
    assert ZoneConstruite.objects.filter(vintage=vintage).count() == len(
        pyogrio.read_dataframe(loaded / "ocsge_M1.gpkg", layer="ZONE_CONSTRUITE")
    )
    poly = LandCoverPolygon.objects.order_by("ocsge_id").first()
    assert poly.geom.srid == 2154 and poly.geom_3857.srid == 3857
    assert poly.area == pytest.approx(poly.geom.area, rel=1e-9)
    assert poly.geom_3857.centroid.distance(poly.geom.transform(3857, clone=True).centroid) < 0.01


def test_round_trip_keeps_ids_codes_and_geometries(loaded, tmp_path):
    import_ocsge(loaded / "ocsge_M2.gpkg", "99", "M2")
    out = tmp_path / "export.gpkg"
    n = export_ocsge("99", "M2", out)
    a = pyogrio.read_dataframe(loaded / "ocsge_M2.gpkg", layer="OCCUPATION_SOL").set_index("id")
    b = pyogrio.read_dataframe(out, layer="OCCUPATION_SOL").set_index("id")
    assert n == len(a) == len(b)
    b = b.loc[a.index]
    assert (a.code_cs == b.code_cs).all() and (a.code_us == b.code_us).all()
    assert (a.millesime == b.millesime).all()
    dist = shapely.hausdorff_distance(a.geometry.values, b.geometry.values)
    assert dist.max() < 0.01
    # ... and importing the export again gives the same thing.
    Vintage.objects.filter(departement__code="99", rank="M2").delete()
    again = import_ocsge(out, "99", "M2")
    assert again.polygon_count == len(a)
    assert set(
        LandCoverPolygon.objects.filter(vintage=again).values_list("ocsge_id", flat=True)
    ) == set(a.index)


def test_it_refuses_a_second_import_of_the_same_rank_unless_replace(loaded):
    import_ocsge(loaded / "ocsge_M1.gpkg", "99", "M1")
    before = _counts()
    with pytest.raises(ImportRefused, match="existe déjà"):
        import_ocsge(loaded / "ocsge_M1.gpkg", "99", "M1")
    assert _counts() == before
    old = Vintage.objects.get().pk
    vintage = import_ocsge(loaded / "ocsge_M1.gpkg", "99", "M1", replace=True)
    assert _counts()[:3] == before[:3] and vintage.polygon_count == before[2]
    # The replaced vintage's partition is gone (no million-row DELETE), the new one is there.
    assert not partitions.exists(old) and _is_partition(vintage.pk)


def test_each_vintage_is_a_partition_with_its_own_indexes(loaded):
    vintage = import_ocsge(loaded / "ocsge_M1.gpkg", "99", "M1")
    assert _is_partition(vintage.pk)
    assert _partition_indexes(vintage.pk) == PARTITION_INDEXES
    # Queries by vintage use its partition's spatial index.
    with connection.cursor() as cur:
        cur.execute(
            "EXPLAIN SELECT id FROM landcover_landcoverpolygon WHERE vintage_id = %s "
            "AND geom && ST_MakeEnvelope(0, 0, 1, 1, 2154)",
            [vintage.pk],
        )
        plan = " ".join(r[0] for r in cur.fetchall())
    assert partitions.name(vintage.pk) in plan and "Index" in plan
    # Vintages created otherwise (inference, admin) get theirs from the post_save signal,
    # and the trigger fills the derived columns there too.
    other = Vintage.objects.create(departement=vintage.departement, rank="M2", millesime=2024)
    assert _is_partition(other.pk)
    poly = LandCoverPolygon.objects.filter(vintage=vintage).first()
    copy = LandCoverPolygon.objects.create(
        vintage=other, ocsge_id="X1", code_cs=poly.code_cs, code_us=poly.code_us, geom=poly.geom
    )
    copy.refresh_from_db()
    assert copy.area == pytest.approx(poly.area) and copy.geom_3857 is not None
    # Deleting a vintage drops its partition.
    other_pk = other.pk
    other.delete()
    assert not partitions.exists(other_pk)


def test_it_creates_an_unknown_departement_from_the_union_of_polygons(tmp_path):
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "new.gpkg", geoms, **cols)
    call_command("import_ocsge", str(path), departement="977", rank="M1", name="Île neuve")
    dep = Departement.objects.get(code="977")
    assert dep.name == "Île neuve"
    assert dep.geom.area == pytest.approx(400 * 400)


@pytest.mark.parametrize(
    "layout",
    ["tessellation", "overlapping", "several-batches", "with-a-hole"],
)
def test_a_new_departements_outline_is_the_union_of_its_polygons(tmp_path, monkeypatch, layout):
    """Built batch by batch while the polygons stream (GEOS's coverage union, or the general
    union when the polygons are not a clean coverage): the same outline as the union."""
    import apps.landcover.gpkg as gpkg

    geoms, cols = square_rows()
    expected_area = 160_000.0
    if layout == "overlapping":  # not a coverage: square 0 overlaps its neighbour by 10 m
        geoms[0] = shapely.box(X0, Y0, X0 + 110, Y0 + 100)
    if layout == "several-batches":
        monkeypatch.setattr(gpkg, "BATCH_SIZE", 3)
    if layout == "with-a-hole":  # the middle square is not mapped
        keep = [k for k in range(16) if k != 5]
        geoms = [geoms[k] for k in keep]
        cols = {name: [v[k] for k in keep] for name, v in cols.items()}
        expected_area -= 10_000.0
    path = write_gpkg(tmp_path / "new.gpkg", geoms, **cols)
    import_ocsge(path, "977", "M1", name="Île neuve")
    outline = Departement.objects.get(code="977").geom
    assert outline.valid and outline.area == pytest.approx(expected_area)
    assert outline.equals(GEOSGeometry(shapely.union_all(geoms).wkt, srid=2154))


def test_load_territories_is_idempotent(small_departement):
    out, _ = small_departement
    call_command("load_territories", str(out / "territoires.gpkg"))
    first = (Region.objects.count(), Departement.objects.count(), Commune.objects.count())
    call_command("load_territories", str(out / "territoires.gpkg"))
    assert (Region.objects.count(), Departement.objects.count(), Commune.objects.count()) == first
    assert first[0] == 1 and first[1] == 1 and first[2] > 1
    assert Departement.objects.get(code="99").region.code == Region.objects.get().code


# --- bad inputs: each refused with a clear message, the database exactly as before -----------


def _refused(path, match, code="98", **kwargs):
    before = _counts()
    with pytest.raises(ImportRefused, match=match) as info:
        import_ocsge(path, code, "M1", **kwargs)
    assert _counts() == before
    return str(info.value)


def test_it_refuses_a_file_that_is_not_a_geopackage(square_departement, tmp_path):
    path = tmp_path / "notes.gpkg"
    path.write_text("id;code_cs\n1;CS1.1.1.1\n")
    _refused(path, "n'est pas un GeoPackage")


def test_it_refuses_a_malformed_geopackage(square_departement, tmp_path):
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "ok.gpkg", geoms, **cols)
    data = bytearray(path.read_bytes())
    data[2000:6000] = b"\x00" * 4000  # corrupt the SQLite pages
    path.write_bytes(bytes(data))
    _refused(path, "illisible|absente")


def test_it_refuses_a_missing_layer(square_departement, tmp_path):
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "x.gpkg", geoms, layer="AUTRE", **cols)
    message = _refused(path, "Aucune couche OCCUPATION_SOL dans x.gpkg")
    assert "AUTRE" in message


def test_it_refuses_a_missing_field(square_departement, tmp_path):
    geoms, cols = square_rows()
    del cols["code_us"]
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    _refused(path, "Champ.*manquant.*code_us")


def test_it_refuses_another_crs_unless_reproject(square_departement, tmp_path):
    from pyproj import Transformer

    geoms, cols = square_rows()
    tr = Transformer.from_crs(2154, 4326, always_xy=True)
    wgs = [
        shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        for g in geoms
    ]
    path = write_gpkg(tmp_path / "x.gpkg", wgs, crs="EPSG:4326", **cols)
    _refused(path, "EPSG:2154.*--reproject")
    vintage = import_ocsge(path, "98", "M1", reproject=True)
    assert vintage.polygon_count == 16
    total = sum(LandCoverPolygon.objects.filter(vintage=vintage).values_list("area", flat=True))
    assert total == pytest.approx(400 * 400, rel=1e-4)


def test_it_refuses_unknown_codes_naming_the_first_rows(square_departement, tmp_path):
    geoms, cols = square_rows()
    cols["code_cs"][3] = "CS9.9"
    cols["code_us"][5] = "US42"
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    message = _refused(path, "code CS inconnu")
    assert "#4 (OCSGE0000000000000004)" in message
    assert "code US inconnu" in message and "#6" in message


def test_it_refuses_an_empty_layer(square_departement, tmp_path):
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "x.gpkg", geoms[:1], **{k: v[:1] for k, v in cols.items()})
    pyogrio.raw.write(
        str(path),
        np.array([], dtype=object),
        [np.array([], dtype=object)] * 3 + [np.array([], dtype=np.int32)],
        list(cols),
        layer="OCCUPATION_SOL",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs="EPSG:2154",
    )
    _refused(path, "vide")


def test_it_refuses_invalid_geometry_unless_repair(square_departement, tmp_path):
    geoms, cols = square_rows()
    x0, y0 = 700_000, 6_600_000
    geoms[0] = shapely.Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100)])
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    message = _refused(path, "géométrie invalide")
    assert "#1 (OCSGE0000000000000001)" in message
    vintage = import_ocsge(path, "98", "M1", repair=True)
    poly = LandCoverPolygon.objects.get(vintage=vintage, ocsge_id="OCSGE0000000000000001")
    assert poly.geom.valid and poly.area == pytest.approx(5000)


def test_it_refuses_polygons_outside_the_departement(square_departement, tmp_path):
    geoms, cols = square_rows()
    geoms[2] = shapely.box(710_000, 6_600_000, 710_100, 6_600_100)
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    message = _refused(path, "hors du département")
    assert "#3" in message


def test_it_refuses_duplicate_ids(square_departement, tmp_path):
    geoms, cols = square_rows()
    cols["id"][7] = cols["id"][1]
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    _refused(path, "identifiant en double")


def test_import_command_reports_refusal_as_command_error(square_departement, tmp_path):
    path = tmp_path / "none.gpkg"
    with pytest.raises(CommandError, match="introuvable"):
        call_command("import_ocsge", str(path), departement="98", rank="M1")


def test_export_of_an_unknown_vintage_is_refused(square_departement, tmp_path):
    with pytest.raises(ImportRefused, match="Aucun millésime M2"):
        export_ocsge("98", "M2", tmp_path / "x.gpkg")
    assert not (tmp_path / "x.gpkg").exists()


def test_load_territories_refuses_codes_too_long_and_missing_layers(tmp_path):
    from apps.territories.loader import TerritoryFileError, load_territories

    square = shapely.MultiPolygon([shapely.box(700_000, 6_600_000, 700_100, 6_600_100)])
    path = tmp_path / "t.gpkg"
    write_gpkg(path, [square], layer="REGION", INSEE_REG=["93"], NOM=["R"])
    with pytest.raises(TerritoryFileError, match="Aucune couche DEPARTEMENT dans t.gpkg"):
        load_territories(path)
    write_gpkg(
        path,
        [square],
        layer="DEPARTEMENT",
        append=True,
        INSEE_DEP=["98"],
        INSEE_REG=["93"],
        NOM=["D"],
    )
    write_gpkg(
        path,
        [square],
        layer="COMMUNE",
        append=True,
        INSEE_COM=["981234"],
        INSEE_DEP=["98"],
        NOM=["C"],
        SIREN_EPCI=["200000001"],
    )
    with pytest.raises(TerritoryFileError, match="INSEE_COM doit compter au plus 5"):
        load_territories(path)
    assert not Region.objects.exists()


def test_it_refuses_a_non_integer_ossature_naming_the_rows(square_departement, tmp_path):
    geoms, cols = square_rows()
    cols["ossature"] = ["1"] * 16
    cols["ossature"][3] = "beaucoup"
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    message = _refused(path, "ossature non entière")
    assert "#4 (OCSGE0000000000000004)" in message


def test_it_stores_every_field_as_read_whatever_its_type(square_departement, tmp_path):
    """Texts (accents, integers typed as such in the file), empty and integer OSSATURE,
    Polygon and MultiPolygon with holes: the rows hold what the file says, and the Web
    Mercator copy is PostGIS's own transform of the Lambert-93 geometry."""
    geoms, cols = square_rows()
    ring = [(700_010, 6_600_010), (700_020, 6_600_010), (700_020, 6_600_020), (700_010, 6_600_010)]
    geoms[0] = shapely.Polygon(shapely.box(700_000, 6_600_000, 700_100, 6_600_100).exterior, [ring])
    geoms = [shapely.MultiPolygon([g]) for g in geoms]
    geoms[5] = shapely.MultiPolygon(
        [
            shapely.box(700_100, 6_600_100, 700_140, 6_600_200),
            shapely.box(700_160, 6_600_100, 700_200, 6_600_200),
        ]
    )
    cols["source"] = ["prise de vue aérienne été"] * 16
    cols["ossature"] = ["1" if k % 2 else "" for k in range(16)]
    cols["id_origine"] = [1000 + k for k in range(16)]
    cols["code_or"] = ["ÉÀ" * (k % 3) for k in range(16)]
    path = write_gpkg(tmp_path / "x.gpkg", geoms, **cols)
    vintage = import_ocsge(path, "98", "M1")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ocsge_id, code_cs, code_us, millesime, source, ossature, id_origine, "
            "code_or, revision, area, ST_Area(geom), ST_NumInteriorRings(ST_GeometryN(geom, 1)),"
            " ST_NumGeometries(geom), ST_SRID(geom_3857), "
            "ST_HausdorffDistance(geom_3857, ST_Transform(geom, 3857)) "
            "FROM landcover_landcoverpolygon WHERE vintage_id = %s ORDER BY ocsge_id",
            [vintage.id],
        )
        rows = cur.fetchall()
    assert len(rows) == 16
    for k, row in enumerate(rows):
        assert row[:9] == (
            f"OCSGE{k + 1:016d}",
            "CS2.2.1",
            "US1.1",
            2021,
            "prise de vue aérienne été",
            1 if k % 2 else None,
            str(1000 + k),
            "ÉÀ" * (k % 3),
            1,
        )
        assert row[9] == pytest.approx(row[10])
        assert row[11] == (1 if k == 0 else 0)
        assert row[12] == (2 if k == 5 else 1)
        assert row[13] == 3857 and row[14] < 1e-6
    assert rows[0][9] == pytest.approx(100 * 100 - 50)


def _variant(tmp_path, case):
    """The square département's M1 written as a user might have it, wrong in one way."""
    geoms, cols = square_rows()
    crs = "EPSG:2154"
    if case == "no-crs":
        crs = None  # pyogrio warns that the file has no CRS: that is the point
    elif case == "empty-id":
        cols["id"] = ["", *cols["id"][1:]]
    elif case == "points":
        geoms = [g.centroid for g in geoms]
    elif case == "lines":
        geoms = [g.boundary for g in geoms]
    elif case == "missing-millesime":
        cols["millesime"] = np.array([None, *cols["millesime"][1:]], dtype=object)
    elif case == "no-millesime-field":
        del cols["millesime"]
    return write_gpkg(tmp_path / f"{case}.gpkg", geoms, crs=crs, **cols)


@pytest.mark.parametrize(
    "case, rank, message",
    [
        (
            "no-crs",
            "M1",
            "Système de coordonnées absent : EPSG:2154 (RGF93 v1 / Lambert-93) attendu pour le "
            "département 98.",
        ),
        ("valid", "M3", "Rang M3 inconnu : M1 ou M2."),
        ("empty-id", "M1", "identifiant vide"),
        ("points", "M1", "Géométries de type Point : Polygon ou MultiPolygon attendu."),
        ("lines", "M1", "Géométries de type LineString : Polygon ou MultiPolygon attendu."),
        ("missing-millesime", "M1", "millésime"),
        (
            "no-millesime-field",
            "M1",
            "Champ(s) manquant(s) dans la couche OCCUPATION_SOL : millesime",
        ),
    ],
    ids=[
        "no-crs",
        "unknown-rank",
        "empty-id",
        "points",
        "lines",
        "missing-millesime",
        "no-millesime-field",
    ],
)
@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_it_refuses_each_malformed_layer_and_writes_nothing(
    square_departement, tmp_path, case, rank, message
):
    path = _variant(tmp_path, case)
    before = _counts()
    with pytest.raises(ImportRefused) as refused:
        import_ocsge(path, "98", rank)
    assert message in str(refused.value)
    assert _counts() == before


def test_it_refuses_an_id_repeated_in_another_batch(square_departement, tmp_path, monkeypatch):
    """Ids are checked across the whole file, not batch by batch (16 rows in batches of 4:
    rows 2 and 14 share an id)."""
    import apps.landcover.gpkg as gpkg

    monkeypatch.setattr(gpkg, "BATCH_SIZE", 4)
    geoms, cols = square_rows()
    cols["id"][13] = cols["id"][1]
    path = write_gpkg(tmp_path / "dup.gpkg", geoms, **cols)
    before = _counts()
    with pytest.raises(ImportRefused, match=cols["id"][1]):
        import_ocsge(path, "98", "M1")
    assert _counts() == before


# --- an import in its own transaction: rows loaded beside, indexes built two at a time ----


def _other_connection():
    import psycopg

    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def _index_parents(vintage_id):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.relname FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid "
            "JOIN pg_class p ON p.oid = h.inhparent WHERE i.indrelid = to_regclass(%s) "
            "ORDER BY 1",
            [partitions.name(vintage_id)],
        )
        return [r[0] for r in cur.fetchall()]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_import_of_its_own_attaches_the_indexes_it_built_beside_and_leaves_no_table(tmp_path):
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "new.gpkg", geoms, **cols)
    tables = set(_polygon_tables())
    assert not connection.in_atomic_block  # the import's transaction is its own
    vintage = import_ocsge(path, "977", "M1", name="Île neuve")
    assert set(_polygon_tables()) - tables == {partitions.name(vintage.pk)}
    assert _is_partition(vintage.pk)
    assert _partition_indexes(vintage.pk) == PARTITION_INDEXES
    # Each is the partition's share of the parent's index: none was built twice.
    assert _index_parents(vintage.pk) == [
        "landcover_landcoverpolygon_pkey",
        "lcpoly_geom3857_gist",
        "lcpoly_geom_gist",
        "uniq_poly_ocsge_id",
    ]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = %s AND attname IN ('geom', 'code_cs')",
            [partitions.name(vintage.pk)],
        )
        assert cur.fetchone()[0] == 2  # the planner's statistics are there
    assert LandCoverPolygon.objects.filter(vintage=vintage).count() == 16
    assert Departement.objects.get(code="977").geom.area == pytest.approx(160_000.0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("fails", ["refused-while-streaming", "after-the-rows-are-committed"])
def test_an_import_of_its_own_that_fails_leaves_no_table_and_no_departement(
    tmp_path, monkeypatch, fails
):
    import apps.landcover.gpkg as gpkg

    geoms, cols = square_rows()
    if fails == "refused-while-streaming":
        cols["code_cs"][3] = "CS9.9"
    else:  # the partition is attached, then the outline cannot be written

        def broken(*args):
            raise RuntimeError("disque plein")

        monkeypatch.setattr(gpkg, "_set_outline", broken)
    path = write_gpkg(tmp_path / "new.gpkg", geoms, **cols)
    before = _counts()
    with pytest.raises((ImportRefused, RuntimeError)):
        import_ocsge(path, "977", "M1", name="Île neuve")
    assert _counts() == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_table_a_crashed_import_left_is_dropped_by_the_next_but_not_one_being_loaded(
    tmp_path,
):
    abandoned, loading = partitions.name(10**9), partitions.name(10**9 + 1)
    with _other_connection() as other, _other_connection() as importer:
        for table in (abandoned, loading):
            other.execute(f"CREATE TABLE {table} (LIKE landcover_landcoverpolygon)")
        # Another process is loading the second one: it holds its lock.
        importer.execute("SELECT pg_advisory_lock(%s, %s)", [partitions.BULK_LOCK, 10**9 + 1])
        geoms, cols = square_rows()
        import_ocsge(write_gpkg(tmp_path / "new.gpkg", geoms, **cols), "977", "M1")
        left = set(_polygon_tables())
        assert abandoned not in left and loading in left
        other.execute(f"DROP TABLE {loading}")
