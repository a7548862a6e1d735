"""The quality report (who reads it, its counts, the artificialisation before corrections)
and the région's dashboard."""

import pytest

from apps.campaigns import loops
from apps.campaigns.models import Step
from apps.landcover.models import Vintage
from apps.signalements import decisions, filing

from .helpers import at, date_of, decide_some, file, grass_polygon

pytestmark = pytest.mark.django_db


# --- quality report ---------------------------------------------------------------------------


def test_quality_report_counts_rates_matrix_and_artificialisation(
    campaign, django_capture_on_commit_callbacks
):
    from apps.campaigns import quality

    decide_some(campaign, django_capture_on_commit_callbacks)
    data = quality.report(campaign["plan"].departement)
    assert data["totals"] == {
        "received": 3,
        "accepted": 2,
        "decided": 3,
        "open": 0,
        "acceptance_rate": pytest.approx(200 / 3),
    }
    # The platform's proposals on M1 (both rejected: the land did change) are apart.
    assert data["coherence"] == {"filed": 2, "accepted": 0, "rejected": 2, "open": 0}
    cells = {(r["from"], c["to"]): c["count"] for r in data["matrix"] for c in r["cells"]}
    assert cells[("CS2.2.1", "CS1.1.1.1")] == 1 and cells[("CS2.2.1", "CS2.1.1.1")] == 1
    assert cells[("CS1.1.1.1", "CS2.2.1")] == 0
    by_class = {r["code"]: r["net"] for r in data["area_by_class"]}
    assert by_class == {"CS1.1.1.1": 10_000.0, "CS2.1.1.1": 10_000.0, "CS2.2.1": -20_000.0}
    m2 = next(r for r in data["artif"] if r["rank"] == "M2")
    assert m2["delta"] == pytest.approx(10_000.0)  # one grass square built
    assert data["by_organisation"][0]["received"] == 3
    assert data["by_commune"] == [
        {"code": "98001", "name": "Étréchy-sur-Carré", "received": 3, "accepted": 2}
    ]


def test_artificialised_area_before_corrections_undoes_a_split(
    campaign, django_capture_on_commit_callbacks
):
    from apps.campaigns import quality
    from apps.landcover.models import LandCoverPolygon

    from .conftest import X0, Y0
    from .helpers import square_wgs84

    plan = campaign["plan"]
    from apps.artif.compute import compute_departement

    compute_departement(plan.departement)
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    polygon = grass_polygon(campaign, 1, 1)
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 160, Y0 + 200)  # 6,000 m² of the square
    proposal = filing.Filing(
        vintage_id=campaign["m2"].pk,
        geom=shape,
        code_cs_proposed="CS1.1.1.1",
        code_us_proposed="US5",
    )
    s = filing.file_signalement(campaign["users"]["contributor_in"], proposal)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(campaign["users"]["operator"], s.pk, "accept")
    count = LandCoverPolygon.objects.filter(vintage=campaign["m2"]).count()
    m2 = Vintage.objects.get(pk=campaign["m2"].pk)
    before = quality.artif_before_corrections(m2)
    after = quality._artif(m2)
    assert after - before == pytest.approx(6_000.0, abs=1.0)
    assert LandCoverPolygon.objects.filter(vintage=m2).count() == count  # rolled back
    assert polygon.pk


def test_the_report_shows_the_figure_before_corrections_a_worker_computed(
    campaign, django_capture_on_commit_callbacks, monkeypatch, settings
):
    """The simulation behind « avant corrections » took 10 s on a million polygons (a 503):
    no request runs it. The report shows the figure kept for an earlier revision, marked
    so, and asks a worker once per BASELINE_ASK_SECONDS for the current one."""
    from apps.artif.compute import compute_departement
    from apps.artif.models import ArtifBaseline
    from apps.campaigns import quality
    from apps.ops import dispatch as dispatch_module

    decide_some(campaign, django_capture_on_commit_callbacks)
    compute_departement(campaign["plan"].departement)
    m2 = Vintage.objects.get(pk=campaign["m2"].pk)
    sent = []
    monkeypatch.setattr(dispatch_module, "dispatch", lambda task, *args, **kw: sent.append(args))
    settings.BASELINE_ASK_SECONDS = 3600
    ArtifBaseline.objects.create(vintage=m2, revision=m2.revision - 1, area=123_456.0)
    row = next(r for r in quality.report(m2.departement)["artif"] if r["rank"] == "M2")
    assert (row["before"], row["before_current"]) == (123_456.0, False)
    m1 = campaign["m1"]
    assert sent == [(m1.pk,), (m2.pk,)]  # M1 had none yet
    quality.report(m2.departement)
    assert sent == [(m1.pk,), (m2.pk,)]  # asked once
    # The worker's answer: the area as delivered, at the current revision.
    quality.store_baseline(m2.pk)
    row = next(r for r in quality.report(m2.departement)["artif"] if r["rank"] == "M2")
    assert row["before_current"] is True
    assert row["after"] - row["before"] == pytest.approx(10_000.0)  # one grass square built
    assert sent == [(m1.pk,), (m2.pk,)]


QUALITY_TABLE = {
    "anonymous": 302,  # to the login page, and back
    "contributor_in": 403,
    "operator": 200,
    "operator2": 200,
    "reviewer": 200,
    "operator_out": 404,
    "admin": 200,
}


@pytest.mark.parametrize("role", list(QUALITY_TABLE))
def test_quality_report_is_for_ign_and_state_services(client, campaign, role):
    if campaign["users"][role]:
        client.force_login(campaign["users"][role])
    assert client.get("/departements/98/rapport-qualite/").status_code == QUALITY_TABLE[role]


def test_quality_report_page_csv_and_printable(
    client, campaign, django_capture_on_commit_callbacks
):
    decide_some(campaign, django_capture_on_commit_callbacks)
    client.force_login(campaign["users"]["reviewer"])
    html = client.get("/departements/98/rapport-qualite/").content.decode()
    markers = [
        'id="totals"',
        'id="matrix"',
        'id="by-class"',
        'id="artif"',
        'id="by-organisation"',
        'id="by-commune"',
        "rgba(230, 85, 13, 1.0)",
    ]
    for marker in markers:
        assert marker in html
    assert (
        "printable" in client.get("/departements/98/rapport-qualite/?imprimer=1").content.decode()
    )
    # For a spreadsheet: BOM, « ; », decimal comma, words and labels rather than codes.
    data = client.get("/departements/98/rapport-qualite/?format=csv").content.decode()
    rows = data.splitlines()
    assert rows[0] == "\ufefftableau;ligne;colonne;nombre;surface (m²)"
    assert "corrections;CS2.2.1;CS1.1.1.1;1;10000,00" in rows
    assert "statut;M2;Pris en compte;2;" in rows and "accepted" not in data


# --- dashboard ----------------------------------------------------------------------------------


def test_region_dashboard_shows_each_departement_with_progress_and_lateness(client, campaign):
    from apps.territories.models import Region

    region = Region.objects.create(code="95", name="Région test")
    Vintage.objects.none()
    campaign["plan"].departement.__class__.objects.filter(code="98").update(region=region)
    file(campaign) if False else None
    Vintage.objects.filter(pk=campaign["m2"].pk).update(feedback_open=True)
    s = file(campaign)
    decisions.apply_action(campaign["users"]["operator"], s.pk, "accept")
    file(campaign, polygon_id=grass_polygon(campaign, 2, 2).pk)
    client.force_login(campaign["users"]["reviewer"])
    html = client.get("/tableau-de-bord/regions/95/").content.decode()
    assert 'data-code="98"' in html
    assert '<progress max="2" value="1"' in html
    assert "étapes en retard" in html  # the template's start is long past, nothing done
    assert client.get("/tableau-de-bord/").status_code == 200
    client.force_login(campaign["users"]["operator_out"])
    assert client.get("/tableau-de-bord/regions/95/").status_code == 404
