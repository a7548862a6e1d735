"""OCS GE as IGN delivers it (formats README): the `.7z` with its dated folders, the
extracted folder, a `.zip`, OCS GE 2.0 GeoPackages (lower-case fields, `the_geom`, the
millésime as text) and OCS GE 1.x Shapefiles (upper-case DBF fields, an ESRI `.prj` with no
EPSG code, a `.cpg`, Polygon and MultiPolygon mixed) — each imported, checked against GEOS
and exported back; and every way a delivery is refused, with nothing written."""

import shutil
import zipfile
from pathlib import Path

import numpy as np
import py7zr
import pyogrio
import pytest
import shapely

from apps.landcover.gpkg import ImportRefused, export_ocsge, import_ocsge
from apps.landcover.models import LandCoverPolygon, Vintage, ZoneConstruite

from .conftest import X0, Y0, square_rows
from .helpers import ESRI_LAMBERT_93

pytestmark = pytest.mark.django_db

ARCHIVE = "OCS-GE_2-0__GPKG_LAMB93_D098_2021-01-01"
DATA = f"{ARCHIVE}/OCS-GE/1_DONNEES_LIVRAISON_2023-05-00119/OCSGE_2-0_GPKG_LAMB93_D98-2021"
SUPPLEMENTS = f"{ARCHIVE}/OCS-GE/3_SUPPLEMENTS_LIVRAISON_2023-05-00119"
SOURCE = "Photo-interprétation"  # not ASCII: the encoding must be honoured


def _rows():
    geoms, cols = square_rows()
    n = len(geoms)
    cols["code_cs"] = ["CS1.1.1.1" if i % 5 == 0 else "CS2.2.1" for i in range(n)]
    cols["code_us"] = ["US5" if i % 5 == 0 else "US1.1" for i in range(n)]
    return geoms, cols


def _zones():
    return [shapely.box(X0 + 10, Y0 + 10, X0 + 90, Y0 + 90)]


def _write(path, geoms, fields: dict, layer, driver="GPKG", **options):
    geoms = np.asarray(geoms, dtype=object)
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(geoms),
        [np.asarray(v, dtype=object) for v in fields.values()],
        list(fields),
        layer=layer,
        driver=driver,
        geometry_type=options.pop("geometry_type", "MultiPolygon"),
        promote_to_multi=options.pop("promote_to_multi", driver == "GPKG"),
        crs=options.pop("crs", "EPSG:2154"),
        **options,
    )
    return path


def _v2_folder(root: Path, crs="EPSG:2154") -> Path:
    """OCS GE 2.0 as extracted: two GeoPackages in the dated tree, supplements beside."""
    data = root / DATA
    data.mkdir(parents=True)
    geoms, cols = _rows()
    n = len(geoms)
    fields = {
        "id": cols["id"],
        "code_cs": cols["code_cs"],
        "code_us": cols["code_us"],
        "millesime": ["2021"] * n,  # text in this edition
        "source": [SOURCE] * n,
        "ossature": ["1" if i % 5 == 0 else "0" for i in range(n)],
        "id_origine": [""] * n,
        "code_or": [""] * n,
    }
    lco = {"layer_options": {"GEOMETRY_NAME": "the_geom"}}
    _write(data / "OCCUPATION_SOL.gpkg", geoms, fields, "OCCUPATION_SOL", crs=crs, **lco)
    _write(
        data / "ZONE_CONSTRUITE.gpkg",
        _zones(),
        {"id": ["ZC1"], "millesime": ["2021"]},
        "ZONE_CONSTRUITE",
        crs=crs,
        **lco,
    )
    (root / SUPPLEMENTS).mkdir(parents=True)
    (root / SUPPLEMENTS / "nomenclature.csv").write_text("code_cs;libelle\n", encoding="utf-8")
    return root / ARCHIVE


def _v1_shapefiles(folder: Path, encoding="UTF-8", cpg="UTF-8") -> Path:
    """OCS GE 1.x: Shapefiles, upper-case DBF fields, an ESRI .prj without EPSG code."""
    folder.mkdir(parents=True, exist_ok=True)
    geoms, cols = _rows()
    n = len(geoms)
    # Polygon and MultiPolygon mixed, as in real files.
    mixed = [shapely.MultiPolygon([g]) if i % 2 else g for i, g in enumerate(geoms)]
    fields = {
        "ID": cols["id"],
        "CODE_CS": cols["code_cs"],
        "CODE_US": cols["code_us"],
        "MILLESIME": np.array([2016] * n, dtype=object),
        "SOURCE": [SOURCE] * n,
        "OSSATURE": np.array([1 if i % 5 == 0 else 0 for i in range(n)], dtype=object),
    }
    for layer, g, f in [
        ("OCCUPATION_SOL", mixed, fields),
        ("ZONE_CONSTRUITE", _zones(), {"ID": ["ZC1"], "MILLESIME": ["2016"]}),
    ]:
        _write(
            folder / f"{layer}.shp",
            g,
            f,
            layer,
            driver="ESRI Shapefile",
            geometry_type="Polygon",
            encoding=encoding,
        )
        (folder / f"{layer}.prj").write_text(ESRI_LAMBERT_93)
        (folder / f"{layer}.cpg").write_text(cpg)
    return folder


def _seven_zip(folder: Path, archive: Path) -> Path:
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(folder, arcname=folder.name)
    return archive


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, str(Path(folder.name) / path.relative_to(folder)))
    return archive


def _imported_as_written(vintage, millesime):
    """Ids, codes, ossature and areas as written (areas against GEOS), zones, millésime."""
    geoms, cols = _rows()
    rows = {
        p.ocsge_id: (p.code_cs, p.code_us, p.ossature, p.source, round(p.area, 6))
        for p in LandCoverPolygon.objects.filter(vintage=vintage)
    }
    assert rows == {
        i: (cs, us, 1 if k % 5 == 0 else 0, SOURCE, round(shapely.area(g), 6))
        for k, (i, cs, us, g) in enumerate(
            zip(cols["id"], cols["code_cs"], cols["code_us"], geoms, strict=True)
        )
    }
    assert vintage.millesime == millesime and vintage.polygon_count == 16
    assert ZoneConstruite.objects.filter(vintage=vintage).count() == 1


def _state():
    return (Vintage.objects.count(), LandCoverPolygon.objects.count())


@pytest.mark.parametrize("form", ["7z", "zip", "folder", "geopackage"])
def test_an_ocs_ge_2_delivery_is_imported_as_downloaded(square_departement, tmp_path, form):
    tree = _v2_folder(tmp_path / "tree")
    path = {
        "7z": lambda: _seven_zip(tree, tmp_path / f"{ARCHIVE}.7z"),
        "zip": lambda: _zip(tree, tmp_path / f"{ARCHIVE}.zip"),
        "folder": lambda: tree,
        "geopackage": lambda: tmp_path / "tree" / DATA / "OCCUPATION_SOL.gpkg",
    }[form]()
    vintage = import_ocsge(path, "98", "M1")
    _imported_as_written(vintage, 2021)
    leftovers = list(Path(__import__("tempfile").gettempdir()).glob("ocsge-import-*"))
    assert leftovers == []  # the extracted archive is removed


@pytest.mark.parametrize("form", ["folder", "shapefile", "zip"])
def test_an_ocs_ge_1_shapefile_delivery_is_imported(square_departement, tmp_path, form):
    folder = _v1_shapefiles(tmp_path / "OCSGE_1-1_SHP_LAMB93_D098-2016")
    path = {
        "folder": folder,
        "shapefile": folder / "OCCUPATION_SOL.shp",
        "zip": _zip(folder, tmp_path / "livraison.zip") if form == "zip" else None,
    }[form]
    vintage = import_ocsge(path, "98", "M1")
    _imported_as_written(vintage, 2016)


def test_a_shapefile_in_windows_1252_is_read_as_its_cpg_says(square_departement, tmp_path):
    folder = _v1_shapefiles(tmp_path / "shp", encoding="cp1252", cpg="1252")
    vintage = import_ocsge(folder, "98", "M1")
    assert set(
        LandCoverPolygon.objects.filter(vintage=vintage).values_list("source", flat=True)
    ) == {SOURCE}


def test_an_imported_delivery_exports_back_the_same(square_departement, tmp_path):
    archive = _seven_zip(_v2_folder(tmp_path / "tree"), tmp_path / f"{ARCHIVE}.7z")
    import_ocsge(archive, "98", "M1")
    out = tmp_path / "export.gpkg"
    assert export_ocsge("98", "M1", out) == 16
    back = pyogrio.read_dataframe(out, layer="OCCUPATION_SOL").set_index("id")
    geoms, cols = _rows()
    assert list(back.loc[cols["id"], "code_cs"]) == cols["code_cs"]
    assert shapely.hausdorff_distance(back.loc[cols["id"]].geometry.values, geoms).max() < 0.01


# --- refusals: each names the file and the problem; nothing is written -------------------


def _refused(path, message):
    before = _state()
    with pytest.raises(ImportRefused) as refused:
        import_ocsge(path, "98", "M1")
    assert message in str(refused.value), str(refused.value)
    assert _state() == before
    return str(refused.value)


def test_an_archive_with_two_occupation_sol_layers_is_refused(square_departement, tmp_path):
    tree = _v2_folder(tmp_path / "tree")
    other = tree / "OCS-GE" / "1_DONNEES_LIVRAISON_2024-01-00001" / "OCSGE_2-0_GPKG_D98-2024"
    shutil.copytree(tree / DATA.removeprefix(f"{ARCHIVE}/"), other)
    message = _refused(_seven_zip(tree, tmp_path / "deux.7z"), "Plusieurs couches OCCUPATION_SOL")
    assert "deux.7z" in message and "2024-01-00001" in message


def test_a_damaged_archive_is_refused(square_departement, tmp_path):
    archive = _seven_zip(_v2_folder(tmp_path / "tree"), tmp_path / "coupee.7z")
    archive.write_bytes(archive.read_bytes()[:300])
    _refused(archive, "Archive coupee.7z illisible")


def test_an_archive_escaping_its_folder_is_refused(square_departement, tmp_path):
    archive = tmp_path / "evasion.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../OCCUPATION_SOL.gpkg", b"SQLite format 3\x00")
    _refused(archive, "evasion.zip contient un chemin refusé : ../../OCCUPATION_SOL.gpkg")
    assert not (tmp_path.parent / "OCCUPATION_SOL.gpkg").exists()


def test_a_zip_bomb_is_refused_before_anything_is_extracted(square_departement, tmp_path):
    archive = tmp_path / "bombe.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OCCUPATION_SOL.gpkg", b"\x00" * (64 * 2**20))  # 64 MB of zeros
    _refused(archive, "taux de compression")


def test_a_file_of_another_kind_is_refused(square_departement, tmp_path):
    notes = tmp_path / "OCS-GE.7z"
    notes.write_text("ceci n'est pas une archive")
    _refused(notes, "n'est ni une archive de livraison (.7z, .zip), ni un GeoPackage")


def test_a_folder_without_occupation_sol_is_refused(square_departement, tmp_path):
    (tmp_path / "vide" / "sous-dossier").mkdir(parents=True)
    _refused(tmp_path / "vide", "Aucune couche OCCUPATION_SOL dans vide")


def test_text_in_another_encoding_than_the_cpg_says_is_refused(square_departement, tmp_path):
    folder = _v1_shapefiles(tmp_path / "shp", encoding="cp1252", cpg="UTF-8")  # it lies
    _refused(folder, "OCCUPATION_SOL.shp : texte illisible dans l'encodage déclaré")


def test_a_prj_of_an_unknown_projection_is_refused(square_departement, tmp_path):
    folder = _v1_shapefiles(tmp_path / "shp")
    (folder / "OCCUPATION_SOL.prj").write_text(
        ESRI_LAMBERT_93.replace("700000.0", "1700000.0").replace("RGF93_Lambert_93", "Inconnue")
    )
    _refused(
        folder,
        "Système de coordonnées Inconnue : le département 98 est en EPSG:2154 "
        "(RGF93 v1 / Lambert-93), son système officiel",
    )


def test_a_file_in_the_crs_of_another_territory_is_refused_not_reprojected(
    square_departement, tmp_path
):
    """A Martinique file (RGAF09 / UTM 20N) given for a metropolitan département."""
    from pyproj import Transformer

    tree = _v2_folder(tmp_path / "tree")
    gpkg = tree.parent / DATA / "OCCUPATION_SOL.gpkg"
    to_utm = Transformer.from_crs(2154, 5490, always_xy=True)
    geoms, _cols = _rows()
    moved = [
        shapely.transform(g, lambda xy: np.column_stack(to_utm.transform(*xy.T))) for g in geoms
    ]
    meta, fids, _g, fields = pyogrio.raw.read(gpkg, layer="OCCUPATION_SOL")
    gpkg.unlink()
    (tree.parent / DATA / "ZONE_CONSTRUITE.gpkg").unlink()
    _write(
        gpkg,
        moved,
        dict(zip(meta["fields"], fields, strict=True)),
        "OCCUPATION_SOL",
        crs="EPSG:5490",
    )
    _refused(
        tree,
        "Système de coordonnées EPSG:5490 (RGAF09 / UTM 20N) : le département 98 est en "
        "EPSG:2154 (RGF93 v1 / Lambert-93)",
    )


def test_zones_in_another_crs_than_the_polygons_are_refused(square_departement, tmp_path):
    tree = _v2_folder(tmp_path / "tree")
    zones = tree.parent / DATA / "ZONE_CONSTRUITE.gpkg"
    zones.unlink()
    _write(zones, _zones(), {"id": ["ZC1"]}, "ZONE_CONSTRUITE", crs="EPSG:4326")
    _refused(tree, "ZONE_CONSTRUITE.gpkg n'est pas dans le système de coordonnées")


def test_a_text_millesime_that_is_not_a_year_is_refused_naming_the_rows(
    square_departement, tmp_path
):
    tree = _v2_folder(tmp_path / "tree")
    gpkg = tree.parent / DATA / "OCCUPATION_SOL.gpkg"
    meta, _f, geoms, fields = pyogrio.raw.read(gpkg, layer="OCCUPATION_SOL")
    values = dict(zip(meta["fields"], fields, strict=True))
    values["millesime"] = np.array(["2021"] * 15 + ["vingt-et-un"], dtype=object)
    gpkg.unlink()
    _write(gpkg, shapely.from_wkb(geoms), values, "OCCUPATION_SOL")
    message = _refused(tree, "millésime illisible")
    assert "#16" in message


@pytest.mark.django_db(databases=["default", "progress"])
def test_the_admin_import_page_takes_the_archive_as_downloaded(
    client, square_departement, tmp_path, django_capture_on_commit_callbacks
):
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.landcover.models import ImportJob

    client.force_login(get_user_model().objects.create_superuser("boss"))
    archive = _seven_zip(_v2_folder(tmp_path / "tree"), tmp_path / f"{ARCHIVE}.7z")
    upload = SimpleUploadedFile(archive.name, archive.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/landcover/importjob/add/",
            {"file": upload, "departement_code": "98", "rank": "M1"},
        )
    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.DONE, job.message
    _imported_as_written(job.vintage, 2021)
    # A file of another kind is refused on the form, before any job exists.
    response = client.post(
        "/admin/landcover/importjob/add/",
        {"file": SimpleUploadedFile("notes.7z", b"pas une archive"), "departement_code": "98"},
    )
    assert "livraison OCS GE" in response.content.decode()
    assert ImportJob.objects.count() == 1
