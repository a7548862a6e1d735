"""The Django-free core of the platform: what is computation, not web application.

* `nomenclature` — the OCS GE codes, colours and allowed pairs shipped as CSV (`data/`);
* `artificialisation` — the décret's rule, in Python and as the PostGIS function;
* `vectorize` — class rasters to polygons (sieve, polygonize, simplify as a coverage, seams);
* `synth` — the synthetic département (landscape, M2 changes, communes, GeoPackages);
* the geometry fast paths of the import: `validity`, `projection`, `ewkb`, `copybin`.

It imports no Django and no app (checked by `make lint`); the apps import it.
"""
