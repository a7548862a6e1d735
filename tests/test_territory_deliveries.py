"""ADMIN EXPRESS as IGN delivers it (formats README): the `.7z` of Shapefiles in its dated
folders (upper-case fields, ESRI `.prj`), and the France-wide GeoPackage edition in WGS84;
EPCI with name and nature, communes' SIREN_EPCI with « NR », « NC » and « A/B »; a subset
of départements; the DROM left out with the reason."""

import numpy as np
import py7zr
import pyogrio
import pytest
import shapely
from django.core.management import call_command
from pyproj import Transformer

from apps.territories.loader import TerritoryFileError, load_territories
from apps.territories.models import Commune, Departement, Epci, Region

from .helpers import ESRI_LAMBERT_93

pytestmark = pytest.mark.django_db

EDITION = "ADMIN-EXPRESS-COG_3-2__SHP_LAMB93_FXX_2024-02-22"
DATA = (
    f"{EDITION}/ADMIN-EXPRESS-COG/1_DONNEES_LIVRAISON_2024-02-00156/"
    "ADECOG_3-2_SHP_LAMB93_FXX-ED2024-02-22"
)
X, Y = 700_000.0, 6_600_000.0


def box(i, j, size=1000.0):
    return shapely.box(X + i * size, Y + j * size, X + (i + 1) * size, Y + (j + 1) * size)


# Départements 98 (two communes) and 99 (two communes) of région 93; communes' SIREN_EPCI
# as delivered: a SIREN, « A/B » (an EPT and its métropole), « NR », « NC ».
COMMUNES = [
    ("98001", "98", "Ville-Haute", "200000001", box(0, 0)),
    ("98002", "98", "Ville-Basse", "200000002/200000003", box(1, 0)),
    ("99001", "99", "Île-Seule", "NC", box(0, 1)),
    ("99002", "99", "Sans-Renseignement", "NR", box(1, 1)),
]
EPCI = [
    ("200000001", "CC du Haut", "Communauté de communes", box(0, 0)),
    ("200000002", "EPT Bas", "Etablissement public territorial", box(1, 0)),
    ("200000003", "Métropole d'Essai", "Métropole", box(1, 0)),
]


def _layers(with_drom=False):
    deps = [("98", "93", "Ici", box(0, 0, 2000)), ("99", "93", "Là", box(0, 1, 2000))]
    regions = [("93", "Région d'essai", shapely.union_all([d[3] for d in deps]))]
    communes = list(COMMUNES)
    if with_drom:  # Martinique, in the France-wide edition
        m = shapely.box(-61.2, 14.4, -60.8, 14.9)
        deps.append(("972", "02", "Martinique", m))
        regions.append(("02", "Martinique", m))
        communes.append(("97209", "972", "Fort-de-France", "249720061", m))
    return {
        "REGION": (["INSEE_REG", "NOM"], [r[:2] for r in regions], [r[2] for r in regions]),
        "DEPARTEMENT": (
            ["INSEE_DEP", "INSEE_REG", "NOM"],
            [d[:3] for d in deps],
            [d[3] for d in deps],
        ),
        "EPCI": (["CODE_SIREN", "NOM", "NATURE"], [e[:3] for e in EPCI], [e[3] for e in EPCI]),
        "COMMUNE": (
            ["INSEE_COM", "INSEE_DEP", "NOM", "SIREN_EPCI"],
            [c[:4] for c in communes],
            [c[4] for c in communes],
        ),
    }


def _write(path, name, fields, rows, geoms, driver, crs="EPSG:2154", append=False):
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array([shapely.MultiPolygon([g]) for g in geoms], dtype=object)),
        [np.array([r[k] for r in rows], dtype=object) for k in range(len(fields))],
        fields,
        layer=name,
        driver=driver,
        geometry_type="MultiPolygon",
        crs=crs,
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
        append=append,
    )


def _shapefile_archive(tmp_path):
    folder = tmp_path / "tree" / DATA
    folder.mkdir(parents=True)
    for name, (fields, rows, geoms) in _layers().items():
        _write(folder / f"{name}.shp", name, fields, rows, geoms, "ESRI Shapefile")
        (folder / f"{name}.prj").write_text(ESRI_LAMBERT_93)
        (folder / f"{name}.cpg").write_text("UTF-8")
    # Other layers of the delivery, not read.
    _write(folder / "CANTON.shp", "CANTON", ["ID"], [("C1",)], [box(0, 0)], "ESRI Shapefile")
    archive = tmp_path / f"{EDITION}.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(tmp_path / "tree" / EDITION, arcname=EDITION)
    return archive


def _france_wgs84(tmp_path):
    """The France-wide GeoPackage edition: one file, WGS84, the DROM included."""
    path = tmp_path / "ADMIN-EXPRESS-COG_3-2__GPKG_WGS84G_FRA_2024-02-22.gpkg"
    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    for k, (name, (fields, rows, geoms)) in enumerate(_layers(with_drom=True).items()):
        moved = [
            g
            if g.bounds[0] < 0
            else shapely.transform(g, lambda xy: np.column_stack(to_wgs.transform(*xy.T)))
            for g in geoms
        ]
        _write(path, name.lower(), fields, rows, moved, "GPKG", crs="EPSG:4326", append=k > 0)
    return path


def _memberships():
    return sorted(
        (c.code, tuple(sorted(c.epcis.values_list("siren", flat=True))))
        for c in Commune.objects.prefetch_related("epcis")
    )


MEMBERSHIPS = [
    ("98001", ("200000001",)),
    ("98002", ("200000002", "200000003")),
    ("99001", ()),
    ("99002", ()),
]


def test_the_shapefile_archive_is_loaded_with_epci_names_and_natures(tmp_path, capsys):
    call_command("load_territories", str(_shapefile_archive(tmp_path)))
    assert "3 EPCI, 4 commune(s)" in capsys.readouterr().out
    assert sorted(Departement.objects.values_list("code", "region__code", "name")) == [
        ("98", "93", "Ici"),
        ("99", "93", "Là"),
    ]
    assert sorted(Epci.objects.values_list("siren", "name", "nature")) == [
        ("200000001", "CC du Haut", "Communauté de communes"),
        ("200000002", "EPT Bas", "Etablissement public territorial"),
        ("200000003", "Métropole d'Essai", "Métropole"),
    ]
    assert _memberships() == MEMBERSHIPS
    assert Commune.objects.get(code="98002").siren_epci == "200000002/200000003"
    assert Commune.objects.get(code="99001").geom.area == pytest.approx(1_000_000.0)


def test_loading_again_updates_in_place(tmp_path):
    archive = _shapefile_archive(tmp_path)
    load_territories(archive)
    Commune.objects.filter(code="98001").update(name="Ancien nom", siren_epci="200000002")
    load_territories(archive)
    assert (Commune.objects.count(), Epci.objects.count(), Region.objects.count()) == (4, 3, 1)
    assert Commune.objects.get(code="98001").name == "Ville-Haute"
    assert _memberships() == MEMBERSHIPS


def test_the_france_wide_wgs84_edition_brings_each_territory_into_its_official_crs(tmp_path):
    call_command("load_territories", str(_france_wgs84(tmp_path)))
    assert sorted(Departement.objects.values_list("code", flat=True)) == ["972", "98", "99"]
    assert sorted(Region.objects.values_list("code", flat=True)) == ["02", "93"]
    commune = Commune.objects.get(code="98001")
    assert commune.geom.srid == 2154
    assert commune.geom.area == pytest.approx(1_000_000.0, rel=1e-4)  # 1 km² back in L93
    # Martinique in RGAF09 / UTM 20N, its area as PROJ and GEOS measure it there.
    to_utm = Transformer.from_crs(4326, 5490, always_xy=True)
    box = shapely.box(-61.2, 14.4, -60.8, 14.9)  # vertices moved, edges straight there
    utm_area = shapely.transform(box, lambda xy: np.column_stack(to_utm.transform(*xy.T))).area
    fort_de_france = Commune.objects.get(code="97209")
    assert fort_de_france.geom.srid == 5490
    assert fort_de_france.geom.area == pytest.approx(utm_area, rel=1e-6)
    assert Departement.objects.get(code="972").geom.srid == 5490
    assert Region.objects.get(code="02").geom.srid == 5490
    assert _memberships() == [("97209", ("249720061",)), *MEMBERSHIPS]


def test_a_file_in_lambert_93_holding_a_drom_is_refused(tmp_path):
    """A DROM measured in Lambert-93 would be wrong by a third: never reprojected."""
    path = tmp_path / "t.gpkg"
    for k, (name, (fields, rows, geoms)) in enumerate(_layers(with_drom=True).items()):
        _write(path, name, fields, rows, geoms, "GPKG", crs="EPSG:2154", append=k > 0)
    with pytest.raises(TerritoryFileError, match="en EPSG:2154, mais .* EPSG:5490"):
        load_territories(path)
    assert not Region.objects.exists() and not Commune.objects.exists()


def test_a_subset_of_departements_loads_their_region_communes_and_epci_only(tmp_path):
    load_territories(_shapefile_archive(tmp_path), departements=["98"])
    assert list(Departement.objects.values_list("code", flat=True)) == ["98"]
    assert sorted(Commune.objects.values_list("code", flat=True)) == ["98001", "98002"]
    assert Epci.objects.count() == 3
    with pytest.raises(TerritoryFileError, match="absent.*du fichier : 42"):
        load_territories(_shapefile_archive(tmp_path / "b"), departements=["42"])


def test_another_projection_is_refused(tmp_path):
    path = tmp_path / "t.gpkg"
    for k, (name, (fields, rows, geoms)) in enumerate(_layers().items()):
        _write(path, name, fields, rows, geoms, "GPKG", crs="EPSG:3857", append=k > 0)
    with pytest.raises(TerritoryFileError, match="ou WGS84 attendu, trouvé EPSG:3857"):
        load_territories(path)
    assert not Region.objects.exists()


def test_the_territory_page_names_each_epci(client, tmp_path):
    from django.contrib.auth import get_user_model

    from apps.landcover.models import Vintage

    load_territories(_shapefile_archive(tmp_path))
    Vintage.objects.create(
        departement=Departement.objects.get(code="98"), rank="M1", millesime=2021, source="import"
    )
    client.force_login(get_user_model().objects.create_superuser("boss"))
    page = client.get("/territoires/departement/98/").content.decode()
    assert "CC du Haut" in page and "Métropole d&#x27;Essai" in page
    epci = client.get("/api/artificialisation/epci/200000003/").json()
    assert epci["territory"]["name"] == "Métropole d'Essai"
