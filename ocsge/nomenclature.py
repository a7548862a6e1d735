"""The OCS GE nomenclature facts shipped with the code (ocsge/data/*.csv).

Read by the data migration that fills the nomenclature tables, and by code that must work
without a database (the synthetic generator).
"""

import csv
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def _rows(name):
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@cache
def cover_codes() -> dict[str, tuple[str, str]]:
    """code_cs -> (label, colour)."""
    return {r["code_cs"]: (r["libelle"], r["couleur"]) for r in _rows("couverture.csv")}


@cache
def use_codes() -> dict[str, str]:
    """code_us -> label."""
    return {r["code_us"]: r["libelle"] for r in _rows("usage.csv")}


@cache
def use_colours() -> dict[str, str]:
    """code_us -> map colour (ours: the nomenclature ships colours for CS only)."""
    return {r["code_us"]: r["couleur"] for r in _rows("usage.csv")}


@cache
def definitions() -> dict[str, str]:
    """code_cs or code_us -> a one-line definition (ours, for contributors' forms)."""
    out = {r["code_cs"]: r["definition"] for r in _rows("couverture.csv")}
    out.update({r["code_us"]: r["definition"] for r in _rows("usage.csv")})
    return out


@cache
def model_classes() -> list[tuple[int, str, str | None]]:
    """(id, label, default code_cs or None) for the model's 17 classes."""
    return [
        (int(r["id"]), r["libelle"], r["code_cs_par_defaut"] or None)
        for r in _rows("classes_ia.csv")
    ]


@cache
def valid_pairs() -> frozenset[tuple[str, str]]:
    """Allowed (code_cs, code_us) pairs shipped by default (admin-editable in the database)."""
    return frozenset((r["code_cs"], r["code_us"]) for r in _rows("paires_cs_us.csv"))


# Minimum mapping units (m², nomenclature README « Minimum mapping units »): the one table,
# read by the vectoriser, the generator and the filing check.
MMU_BUILDING_M2 = 200.0  # a building (CS1.1.1.1)
MMU_BUILT_UP_M2 = 500.0  # anything else inside a built-up zone
MMU_ELSEWHERE_M2 = 2_500.0  # anything else elsewhere
BUILDING = "CS1.1.1.1"


def minimum_mapping_unit(code_cs: str, in_built_up_zone: bool) -> float:
    """The smallest area (m²) the product maps for `code_cs` at a place."""
    if code_cs == BUILDING:
        return MMU_BUILDING_M2
    return MMU_BUILT_UP_M2 if in_built_up_zone else MMU_ELSEWHERE_M2
