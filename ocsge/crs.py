"""The official CRS of each French territory (formats README), and identifying the CRS a
file declares — an ESRI `.prj` names « RGF93 Lambert 93 » without any EPSG code."""

from pyproj import CRS

LAMBERT_93 = 2154
# The DROM départements and their official CRS: not held by the platform yet (their areas
# would be wrong in Lambert-93).
DROM_CRS = {
    5490: "RGAF09 / UTM 20N",
    2972: "RGFG95 / UTM 22N",
    2975: "RGR92 / UTM 40S",
    4471: "RGM04 / UTM 38S",
}
DROM_DEPARTEMENTS = ("971", "972", "973", "974", "976")
DROM_REGIONS = ("01", "02", "03", "04", "06")


def identified_epsg(crs) -> int | None:
    """The EPSG code of `crs` (any form pyproj reads), or None when it is none we know."""
    src = CRS.from_user_input(crs)
    code = src.to_epsg() or src.to_epsg(min_confidence=70)
    if code:
        return code
    for known in (LAMBERT_93, *DROM_CRS):
        if CRS.from_epsg(known).equals(src, ignore_axis_order=True):
            return known
    return None
