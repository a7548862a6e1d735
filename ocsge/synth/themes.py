"""The themes the synthetic département is drawn in: one raster value each, with the OCS GE
code pair it is written as and whether it is a building (for the minimum mapping units)."""

# Theme value -> (code_cs, code_us, is_building). Value 0 is outside the département.
THEMES: dict[int, tuple[str, str, bool]] = {
    1: ("CS1.1.1.1", "US5", True),  # houses
    2: ("CS1.1.1.1", "US2", True),  # warehouses, factories
    3: ("CS1.1.1.1", "US1.1", True),  # farm buildings
    4: ("CS1.1.1.2", "US4.1.1", False),  # roads and streets
    5: ("CS1.1.2.1", "US4.1.2", False),  # railway
    6: ("CS1.1.1.2", "US2", False),  # yards and car parks of the activity zone
    7: ("CS2.2.1", "US5", False),  # gardens
    8: ("CS2.1.1.1", "US5", False),  # garden trees
    9: ("CS2.2.1", "US3", False),  # sports grounds
    10: ("CS2.2.1", "US1.1", False),  # crops and meadows
    11: ("CS2.1.3", "US1.1", False),  # vineyards
    12: ("CS2.2.2", "US1.1", False),  # other herbaceous farmland
    13: ("CS2.1.1.1", "US1.2", False),  # broadleaf forest
    14: ("CS2.1.1.2", "US1.2", False),  # conifer forest
    15: ("CS2.1.1.3", "US1.2", False),  # mixed forest
    16: ("CS2.1.2", "US6.3", False),  # heath and scrub
    17: ("CS1.2.2", "US6.3", False),  # river
    18: ("CS1.2.2", "US1.4", False),  # fish ponds
    19: ("CS1.1.2.1", "US1.3", False),  # quarry (mineral)
    20: ("CS1.2.1", "US1.3", False),  # quarry (bare ground)
    21: ("CS1.2.1", "US6.1", False),  # building site, demolition
    22: ("CS2.1.2", "US1.2", False),  # clear-cut
    23: ("CS1.1.2.1", "US235", False),  # squares, mineral surfaces in town
}
ARTIFICIAL_THEMES = (1, 2, 3, 4, 6, 23)
