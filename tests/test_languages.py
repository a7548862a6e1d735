"""The interface in English: every page a user reaches, in English, carries no French of its
own — only the data, which stays as IGN and the territories wrote it (nomenclature labels,
names of places and organisations, comments) — and the English catalogue is complete."""

import json
import re
from html.parser import HTMLParser

import pytest

from .helpers import file

pytestmark = pytest.mark.django_db

# Words only French writes: one of them in the interface's own text is an untranslated string.
FRENCH = re.compile(
    r"\b(le|la|les|des|du|une|est|sont|pour|avec|aucun|aucune|dans|sur|par|vous|votre|vos|"
    r"depuis|jusqu|fichier|signaler|déposer|carte|millésime|boucle|"
    r"ouvert|fermé|rapport|données|télécharger|enregistrer|connexion|connecter)\b|n°"
    r"|[éèêàùçœ]",
    re.IGNORECASE,
)


class _Text(HTMLParser):
    """The text a reader gets: text nodes and the labels of controls (aria-label, title,
    placeholder, alt), without scripts and styles."""

    SKIP = {"script", "style"}

    def __init__(self):
        super().__init__()
        self.parts, self._skip, self._json = [], 0, False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        # The pages' scripts take their words from a JSON block (`i18n`, labels, loop notes).
        self._json = tag == "script" and ("type", "application/json") in attrs
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip -= 1
        self._json = False

    def handle_data(self, data):
        if self._json:
            self.parts.extend(_words_for_scripts(json.loads(data)))
        elif not self._skip and data.strip():
            self.parts.append(data.strip())


WORDS_FOR_SCRIPTS = {
    "i18n",
    "labels",
    "loop",
    "statusLabels",
    "actionLabels",
    "closeRelated",
    "picked",
    "confirmBulk",
    "chooseReason",
    "related",
}


def _words_for_scripts(value, shown=False):
    """The strings of a page's JSON configuration that its scripts show as they are."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _words_for_scripts(item, shown or key in WORDS_FOR_SCRIPTS)
    elif isinstance(value, list):
        for item in value:
            yield from _words_for_scripts(item, shown)
    elif shown and isinstance(value, str):
        yield value


def _data_strings():
    """What the users and IGN wrote, which no catalogue translates."""
    from apps.landcover.models import CoverCode, UseCode
    from apps.signalements.models import RejectionReason, Signalement
    from apps.territories.models import Commune, Departement, Epci, Organisation, Region

    strings = set()
    for model, fields in [
        (CoverCode, ("label", "definition")),
        (UseCode, ("label", "definition")),
        (Commune, ("name",)),
        (Departement, ("name",)),
        (Region, ("name",)),
        (Epci, ("name",)),
        (Organisation, ("name",)),
        (RejectionReason, ("label", "explanation")),
        (Signalement, ("comment",)),
    ]:
        for values in model.objects.values_list(*fields):
            strings.update(v for v in values if v)
    return sorted(strings, key=len, reverse=True)


# French words English keeps for French institutions, and each language's own name.
LOAN_WORDS = re.compile(
    r"\b(départements?|régions?|signalements?|décret)\b|Français", re.IGNORECASE
)


def _french_left(html: str, data: list[str]) -> list[str]:
    parser = _Text()
    parser.feed(html)
    found = []
    for part in parser.parts:
        for value in data:
            part = part.replace(value, " ")
        part = LOAN_WORDS.sub(" ", part)
        if FRENCH.search(part):
            found.append(part)
    return found


@pytest.mark.parametrize(
    "who, url",
    [
        (None, "/"),
        (None, "/comptes/login/"),
        (None, "/donnees/"),
        (None, "/nomenclature/"),
        ("contributor_in", "/"),
        ("contributor_in", "/departements/98/"),
        ("contributor_in", "/departements/98/carte/"),
        ("contributor_in", "/departements/98/signalements/"),
        ("contributor_in", "/departements/98/signalements/depot-fichier/"),
        ("contributor_in", "/signalements/{signalement}/"),
        ("contributor_in", "/comptes/jetons/"),
        ("contributor_in", "/mes-signalements/"),
        ("contributor_in", "/territoires/commune/98001/"),
        ("operator", "/departements/98/signalements/"),
        ("operator", "/signalements/{signalement}/"),
        ("operator", "/departements/98/inference/"),
        ("operator2", "/departements/98/calendrier/"),
        ("operator2", "/departements/98/rapport-qualite/"),
        ("operator2", "/comptes/membres/"),
        ("operator2", "/comptes/inviter/"),
        ("reviewer", "/tableau-de-bord/"),
    ],
)
def test_a_page_in_english_has_no_french_of_its_own(client, world, who, url):
    from apps.campaigns.calendar import create_plan

    create_plan(world["m2"].departement, __import__("datetime").date(2026, 1, 5))
    signalement = file(world)
    if who:
        client.force_login(world["users"][who])
    client.cookies["django_language"] = "en"
    response = client.get(url.format(signalement=signalement.pk))
    assert response.status_code == 200
    assert _french_left(response.content.decode(), _data_strings()) == []


def test_the_same_check_finds_the_french_of_the_french_pages(client, world):
    """The detector at work: the map page in French is full of the interface's French."""
    client.force_login(world["users"]["contributor_in"])
    client.cookies["django_language"] = "fr"
    left = _french_left(client.get("/departements/98/carte/").content.decode(), _data_strings())
    assert "Signaler une erreur" in left and "Rechercher une commune" in left


def test_the_english_catalogue_is_complete_and_keeps_every_placeholder():
    """Every string of the interface has its English (none fuzzy); the compiled catalogues
    are the build's (`make messages`, `msgfmt --check`: placeholders kept)."""
    from pathlib import Path

    import polib

    root = Path(__file__).resolve().parents[1] / "locale"
    english = polib.pofile(str(root / "en/LC_MESSAGES/django.po"))
    assert english.untranslated_entries() == [] and english.fuzzy_entries() == []
    assert len(english) > 800
    for lang in ("en", "fr"):
        mo = root / lang / "LC_MESSAGES/django.mo"
        assert mo.exists(), f"{mo}: run `make messages`"
        assert mo.stat().st_mtime >= (mo.with_suffix(".po")).stat().st_mtime


def test_french_is_written_as_a_french_reader_expects(client, world):
    """Thousands grouped (« 28 434 polygones »), French plurals (0 and 1 singular: « 1 reçu »,
    « 1 polygone »), statuses by their labels, never codes."""
    from apps.campaigns.calendar import create_plan
    from apps.landcover.models import Vintage

    Vintage.objects.filter(pk=world["m1"].pk).update(polygon_count=1)
    Vintage.objects.filter(pk=world["m2"].pk).update(polygon_count=28434)
    create_plan(world["m2"].departement, __import__("datetime").date(2026, 1, 5))
    signalement = file(world)
    from apps.signalements import decisions

    decisions.apply_action(world["users"]["operator"], signalement.pk, "take")
    client.force_login(world["users"]["operator2"])
    page = client.get("/departements/98/").content.decode()
    assert "28\xa0434 polygones" in page and "1 polygone," in page
    plan = client.get("/departements/98/calendrier/").content.decode()
    assert "1 reçu, 0 décidé" in plan
    detail = client.get(f"/signalements/{signalement.pk}/").content.decode()
    assert "Reçu → En cours de traitement" in detail and "submitted" not in detail
    client.cookies["django_language"] = "en"
    page = client.get("/departements/98/").content.decode()
    assert "28,434 polygons" in page and "1 polygon," in page
    assert "1 received, 0 decided" in client.get("/departements/98/calendrier/").content.decode()


@pytest.mark.parametrize(
    "day, fmt, expected",
    [
        ("2027-10-01", "j F Y", "1er octobre 2027"),
        ("2027-06-01", "l j F Y", "mardi 1er juin 2027"),
        ("2027-10-14", "j F Y", "14 octobre 2027"),
        ("2027-06-21", "j N Y", "21 juin 2027"),
        ("2027-07-21", "j N Y", "21 juil. 2027"),  # « jui » for both, before
        ("2027-02-01", "j N Y", "1er fév. 2027"),
    ],
)
def test_dates_are_written_as_a_french_reader_expects(day, fmt, expected):
    import datetime

    from django.utils import translation

    from apps.ops.templatetags.dates import frdate

    with translation.override("fr"):
        assert frdate(datetime.date.fromisoformat(day), fmt) == expected
