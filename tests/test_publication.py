"""Publication: refused while anything is open, the package reads back equal to the
database, open to everyone, only managers publish; a published vintage no longer changes."""

import datetime

import numpy as np
import pytest

from apps.campaigns import loops
from apps.campaigns.models import Step
from apps.landcover.models import Vintage
from apps.signalements import errors, filing

from .helpers import at, date_of, decide_some, file

pytestmark = pytest.mark.django_db


# --- publication ---------------------------------------------------------------------------------


def test_publication_is_refused_while_a_loop_is_open_or_a_signalement_undecided(campaign):
    from apps.campaigns import publication

    plan = campaign["plan"]
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    file(campaign)
    reasons = publication.blockers(plan.departement)
    assert any("M2 est encore ouverte" in r for r in reasons)
    assert "1 signalement M2 n'est pas décidé." in reasons
    with pytest.raises(publication.Refused):
        publication.publish(plan.departement, campaign["users"]["operator2"])


def test_publication_package_reads_back_equal_to_the_database(campaign, published, tmp_path):
    import json

    import pyogrio

    from apps.landcover.models import ChangePiece, LandCoverPolygon
    from apps.signalements.models import Signalement

    pub = published  # two decisions on M2, the difference computed, the package built
    built = Signalement.objects.get(code_cs_proposed="CS1.1.1.1", status="accepted")
    dep = campaign["plan"].departement
    folder = tmp_path / "publications" / "98"
    names = {f["name"] for f in pub.files}
    assert names == {
        "OCSGE_98_M1_2021.gpkg",
        "OCSGE_98_M2_2024.gpkg",
        "OCSGE_98_M1_2021.parquet",
        "OCSGE_98_M2_2024.parquet",
        "OCSGE_98_M1_2021.pmtiles",
        "OCSGE_98_M2_2024.pmtiles",
        "OCSGE_98_DIFFERENCE_2021_2024.gpkg",
        "OCSGE_98_DIFFERENCE_2021_2024.pmtiles",
        "OCSGE_98_ARTIFICIALISATION_COMMUNES.csv",
        "metadata.json",
    }
    directory = next(folder.iterdir())
    m2 = pyogrio.read_dataframe(directory / "OCSGE_98_M2_2024.gpkg", layer="OCCUPATION_SOL")
    db = {
        p.ocsge_id: (p.code_cs, p.code_us, round(p.area, 3))
        for p in LandCoverPolygon.objects.filter(vintage=campaign["m2"])
    }
    assert {r.id: (r.code_cs, r.code_us, round(r.geometry.area, 3)) for r in m2.itertuples()} == db
    # The GeoParquet copy: the same rows, read by geopandas with its CRS.
    import geopandas

    parquet = geopandas.read_parquet(directory / "OCSGE_98_M2_2024.parquet")
    assert parquet.crs.to_epsg() == 2154
    assert {
        r.id: (r.code_cs, r.code_us, round(r.geometry.area, 3)) for r in parquet.itertuples()
    } == db
    diff = pyogrio.read_dataframe(directory / "OCSGE_98_DIFFERENCE_2021_2024.gpkg")
    assert list(diff.columns) == ["cs_avant", "us_avant", "cs_apres", "us_apres", "geometry"]
    assert len(diff) == ChangePiece.objects.filter(departement=dep).count()
    assert diff.geometry.area.sum() == pytest.approx(
        sum(ChangePiece.objects.filter(departement=dep).values_list("area", flat=True))
    )
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["licence"].startswith("Licence Ouverte")
    import hashlib

    for f in metadata["files"]:
        assert hashlib.sha256((directory / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert set(Vintage.objects.filter(departement=dep).values_list("state", flat=True)) == {
        "published"
    }
    # Read-only now: no filing, no decision, no loop reopening, no replacement.
    with pytest.raises(errors.Refused, match="publié"):
        proposal = filing.Filing(
            vintage_id=campaign["m2"].pk,
            polygon_id=built.polygon_id,
            code_cs_proposed="CS2.2.1",
            code_us_proposed="US1.1",
        )
        filing.prepare(campaign["users"]["contributor_in"], proposal)
    with pytest.raises(loops.LoopRefused, match="publié"):  # every path: test_published.py
        loops.open_now(
            campaign["plan"], "M2", date_of(campaign["plan"], Step.M2_CLOSE) - datetime.timedelta(1)
        )
    loops.sync(at(date_of(campaign["plan"], Step.M2_CLOSE) - datetime.timedelta(1)))
    assert not Vintage.objects.get(pk=campaign["m2"].pk).feedback_open


def test_published_files_are_open_to_everyone(
    client, campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    from apps.campaigns import publication

    settings.MEDIA_ROOT = tmp_path
    decide_some(campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(campaign["plan"].departement, campaign["users"]["operator2"])
    html = client.get("/donnees/").content.decode()
    assert "Licence Ouverte" in html and "OCSGE_98_M1_2021.gpkg" in html
    response = client.get("/donnees/98/OCSGE_98_ARTIFICIALISATION_COMMUNES.csv")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert b"code_insee" in b"".join(response.streaming_content)
    assert client.get("/donnees/98/..%2Fsecret.txt").status_code == 404
    assert client.get("/donnees/98/autre.gpkg").status_code == 404


def test_the_dcat_catalogue_describes_each_published_file_for_harvesting(
    client, campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    """`/donnees/catalogue.jsonld` parsed as RDF (rdflib, JSON-LD): the catalogue, the
    département's dataset with its licence, period and place, one distribution per file
    whose download URL serves it and whose checksum is the file's."""
    import hashlib

    import rdflib
    from rdflib.namespace import DCAT, DCTERMS, RDF

    from apps.campaigns import publication
    from apps.campaigns.models import Publication

    settings.MEDIA_ROOT = tmp_path
    decide_some(campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(campaign["plan"].departement, campaign["users"]["operator2"])
    answer = client.get("/donnees/catalogue.jsonld")
    assert answer["Content-Type"] == "application/ld+json"
    graph = rdflib.Graph().parse(data=answer.content.decode(), format="json-ld")
    catalogues = list(graph.subjects(RDF.type, DCAT.Catalog))
    datasets = list(graph.objects(catalogues[0], DCAT.dataset))
    assert len(catalogues) == 1 and len(datasets) == 1
    dataset = datasets[0]
    assert graph.value(dataset, DCTERMS.identifier).toPython() == "ocsge-98-2021-2024"
    licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    assert graph.value(dataset, DCTERMS.license) == rdflib.URIRef(licence)
    period = graph.value(dataset, DCTERMS.temporal)
    assert str(graph.value(period, DCAT.startDate)) == "2021-01-01"
    assert str(graph.value(period, DCAT.endDate)) == "2024-12-31"
    assert "POLYGON" in str(graph.value(graph.value(dataset, DCTERMS.spatial), DCAT.bbox))
    spdx = rdflib.Namespace("http://spdx.org/rdf/terms#")
    files = {f["name"]: f for f in Publication.objects.get().files}
    distributions = list(graph.objects(dataset, DCAT.distribution))
    assert len(distributions) == len(files)
    for distribution in distributions:
        url = str(graph.value(distribution, DCAT.downloadURL))
        served = b"".join(client.get(url.replace("http://testserver", "")).streaming_content)
        checksum = graph.value(graph.value(distribution, spdx.checksum), spdx.checksumValue)
        assert hashlib.sha256(served).hexdigest() == str(checksum)
        name = str(graph.value(distribution, DCTERMS.title))
        assert int(graph.value(distribution, DCAT.byteSize)) == files[name]["size"]


PUBLISH_TABLE = {
    "anonymous": 404,
    "contributor_in": 403,
    "operator": 403,
    "reviewer": 403,
    "operator_out": 404,
    "operator2": 302,
    "admin": 302,
}


@pytest.mark.parametrize("role", list(PUBLISH_TABLE))
def test_only_managers_publish(client, campaign, role, settings, tmp_path):
    from apps.campaigns.models import Publication

    settings.MEDIA_ROOT = tmp_path
    if campaign["users"][role]:
        client.force_login(campaign["users"][role])
    response = client.post("/departements/98/publier/")
    assert response.status_code == PUBLISH_TABLE[role]
    # 302 answers success and refusal alike: the publication itself is the proof.
    assert Publication.objects.exists() is (PUBLISH_TABLE[role] == 302)


def _photos(folder, x0, y0, size_m, res):
    """Three aligned rasters (RGB, NIR, elevation) over a square, in Lambert-93."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    n = int(size_m / res)
    transform = from_origin(x0, y0 + size_m, res, res)
    paths = {}
    for name, count, dtype in (
        ("rgb", 3, "uint8"),
        ("nir", 1, "uint8"),
        ("elevation", 1, "float32"),
    ):
        paths[name] = folder / f"{name}.tif"
        with rasterio.open(
            paths[name],
            "w",
            driver="GTiff",
            width=n,
            height=n,
            count=count,
            dtype=dtype,
            crs="EPSG:2154",
            transform=transform,
        ) as out:
            out.write(np.full((count, n, n), 90, dtype=dtype))
    return paths


def test_the_package_offers_the_training_set_of_a_vintage_the_model_produced(
    campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    """M2 said produced by a run over photos of the square département at 0.5 m (one 512 px
    patch: x 0–256 m, y 144–400 m from the corner): grass (13), and the two squares
    `decide_some` corrected by accepted signalements: (1, 1) built, x 100–200 × y 100–200
    (200 × 112 px inside), and (2, 2) a wood, x 200–300 × y 200–300 (112 × 200 px inside)."""
    import json
    import zipfile

    import rasterio

    from apps.campaigns import publication
    from apps.campaigns.models import Publication
    from apps.inference.models import InferenceRun

    from .conftest import X0, Y0

    settings.MEDIA_ROOT = tmp_path / "media"
    decide_some(campaign, django_capture_on_commit_callbacks)
    photos = _photos(tmp_path, X0, Y0, 400, 0.5)
    InferenceRun.objects.create(
        departement=campaign["plan"].departement,
        rank="M2",
        millesime=2024,
        rgb=photos["rgb"],
        nir=photos["nir"],
        elevation=photos["elevation"],
        checkpoint="unused.pt",
        state=InferenceRun.State.DONE,
        vintage=campaign["m2"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(campaign["plan"].departement, campaign["users"]["operator2"])
    pub = Publication.objects.get()
    assert pub.state == Publication.State.DONE, pub.message
    name = "OCSGE_98_M2_2024_ENTRAINEMENT.zip"
    assert name in {f["name"] for f in pub.files}
    assert "OCSGE_98_M1_2021_ENTRAINEMENT.zip" not in {f["name"] for f in pub.files}
    directory = next((tmp_path / "media" / "publications" / "98").iterdir())
    with zipfile.ZipFile(directory / name) as z:
        meta = json.loads(z.read("metadata.json"))
        assert list(meta) == ["IMG_000001"]
        z.extract("labels/D098_2024/Z1/msk/MSK_000001.tif", tmp_path / "x")
    with rasterio.open(tmp_path / "x" / "labels/D098_2024/Z1/msk/MSK_000001.tif") as msk:
        labels = msk.read(1)
    # Building 1 (CS1.1.1.1), wood 10 (CS2.1.1.1), grass 13 (CS2.2.1): the lowest classes.
    counts = np.unique(labels, return_counts=True)
    assert {int(v): int(c) for v, c in zip(*counts, strict=True)} == {
        1: 22_400,
        10: 22_400,
        13: 512 * 512 - 44_800,
    }
    assert meta["IMG_000001"]["label_sources"]["signalement"] == round(44_800 / 512**2, 4)
    assert meta["IMG_000001"]["label_sources"]["delivery"] == round(1 - 44_800 / 512**2, 4)
    # Described in the DCAT catalogue like every file.
    catalogue = str(pub.files)
    assert "Données d'entraînement M2 2024" in catalogue
