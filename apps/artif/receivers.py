"""What the artif app does when the land cover changes (connected in `ArtifConfig.ready`)."""


def follow_polygons(sender, departement, polygon_ids, **kwargs) -> dict:
    """`landcover.derived.polygons_changed`, sent from the derived-data task once the change
    is committed: after an import (all polygons), the département's indicators at once;
    after corrections, those of the communes they meet, in the same task (a task of its own
    per correction doubled the worker's queue after a burst of decisions, for the same
    work)."""
    if polygon_ids is None:
        if not departement.communes.exists():
            return {"indicators": False}
        from .compute import compute_departement

        compute_departement(departement)
        return {"indicators": True}
    from .compute import update_after_correction

    result = update_after_correction(departement, list(polygon_ids))
    return {"indicators": "updated", "communes": len(result["communes"])}
