"""The artificialisation rule of décret n° 2023-1096 (nomenclature README), in one place.

`is_artificialised` is the Python form; `SQL_FUNCTION` creates the same rule in PostGIS
(`ocsge_artif(cs, us)`, migration 0001) for the set-based computations. A test checks that
both agree on every (CS, US) pair of the nomenclature.
"""

# Whatever the US.
ALWAYS = ("CS1.1.1.1", "CS1.1.1.2", "CS1.1.2.2")
# Unless the US is extraction.
MINERAL = "CS1.1.2.1"
EXTRACTION = "US1.3"
# Herbaceous land in urban use.
HERBACEOUS = ("CS2.2.1", "CS2.2.2")
URBAN_USES = (
    "US2",
    "US3",
    "US5",
    "US235",
    "US4.1.1",
    "US4.1.2",
    "US4.1.3",
    "US4.1.4",
    "US4.1.5",
    "US4.2",
    "US4.3",
    "US6.1",
    "US6.2",
)

# Threshold rule (décret n° 2023-1096, annex to article R. 101-1 of the code de l'urbanisme):
# patches below this area (m²) enclosed in the other kind of land flip…
THRESHOLD_M2 = 2500.0
# …but built surfaces (« imperméabilisés en raison du bâti ») qualify from 50 m² of footprint:
# a building of this area or more is never dropped.
BUILDING = "CS1.1.1.1"
BUILDING_THRESHOLD_M2 = 50.0


def is_artificialised(code_cs: str, code_us: str) -> bool:
    if code_cs in ALWAYS:
        return True
    if code_cs == MINERAL:
        return code_us != EXTRACTION
    return code_cs in HERBACEOUS and code_us in URBAN_USES


def _sql_list(codes) -> str:
    return ", ".join(f"'{c}'" for c in codes)


SQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ocsge_artif(cs text, us text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN cs IN ({_sql_list(ALWAYS)}) THEN true
    WHEN cs = '{MINERAL}' THEN us IS DISTINCT FROM '{EXTRACTION}'
    WHEN cs IN ({_sql_list(HERBACEOUS)}) THEN us IN ({_sql_list(URBAN_USES)})
    ELSE false END
$$;
"""
SQL_DROP = "DROP FUNCTION IF EXISTS ocsge_artif(text, text);"
