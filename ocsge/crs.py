"""The official CRS of each French territory (formats README), and identifying the CRS a
file declares — an ESRI `.prj` names « RGF93 Lambert 93 » without any EPSG code."""

LAMBERT_93 = 2154
# The five DROM départements, each in its official CRS (formats README): their polygons are
# stored, measured and exported in it — in Lambert-93 their areas would be wrong by up to a
# third.
DROM_CRS = {
    5490: "RGAF09 / UTM 20N",
    2972: "RGFG95 / UTM 22N",
    2975: "RGR92 / UTM 40S",
    4471: "RGM04 / UTM 38S",
}
DEPARTEMENT_CRS = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
DROM_DEPARTEMENTS = tuple(DEPARTEMENT_CRS)
DROM_REGIONS = ("01", "02", "03", "04", "06")
REGION_CRS = {"01": 5490, "02": 5490, "03": 2972, "04": 2975, "06": 4471}
DROM_REGION = {"971": "01", "972": "02", "973": "03", "974": "04", "976": "06"}
OFFICIAL_CRS = {LAMBERT_93: "RGF93 v1 / Lambert-93", **DROM_CRS}


def official_epsg(departement_code: str) -> int:
    """The official CRS of a département: its DROM CRS, Lambert-93 elsewhere."""
    return DEPARTEMENT_CRS.get(departement_code, LAMBERT_93)


def region_epsg(region_code: str) -> int:
    return REGION_CRS.get(region_code, LAMBERT_93)


def identified_epsg(crs) -> int | None:
    """The EPSG code of `crs` (any form pyproj reads), or None when it is none we know."""
    from pyproj import CRS  # here: pyproj's import is a fortieth of every start-up

    src = CRS.from_user_input(crs)
    code = src.to_epsg() or src.to_epsg(min_confidence=70)
    if code:
        return code
    for known in (LAMBERT_93, *DROM_CRS):
        if CRS.from_epsg(known).equals(src, ignore_axis_order=True):
            return known
    return None
