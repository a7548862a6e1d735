"""Fine-tuning on a territory's corrections, demonstrated: a model with a systematic
confusion (taught vineyards as fields), a département whose vineyards it misreads, the
operators' corrections, the fine-tuned model measured on held-out areas against the truth.

1. A synthetic département (code 94, 4 km, its own seed) and its photos at 2.5 m; its
   generated M1 is the truth.
2. The confused model: `train_demo_model --relabel 16:14` (vineyards taught as crops), cached
   under var/models/; registered for département 94 with its training recipe.
3. Its inference run makes 94's M1; every inferred field polygon lying mostly on a true
   vineyard is corrected to CS2.1.3 (an accepted signalement), as operators would.
4. `finetune` trains on the corrected patches west of the held-out band and replays the
   model's original data; both models are then measured on the held-out patches (east) against
   the truth raster (the generated polygons' classes), class by class.

Département 94 is replaced at each run (the demo's 99 and 97 are left alone).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

CODE = "94"
CONFUSED = {16: 14}  # vineyards taught as crops
SEED = 29  # 13 % of vineyards, spread over 3 km from west to east


def _prepare(root: Path, data: Path, log):
    from django.core.management import call_command

    from apps.inference.ml.synthetic import render_geopackage
    from apps.landcover.gpkg import _delete_vintage
    from apps.landcover.models import Vintage
    from ocsge import synth

    if not (data / "ocsge_M1.gpkg").exists():
        synth.generate(data, code=CODE, size_km=4.0, seed=SEED, name="Vignoble d'essai", log=log)
    if not (data / "imagery" / "rgb.tif").exists():
        render_geopackage(data / "ocsge_M1.gpkg", data / "imagery", res=2.5, seed=5, log=log)
    for vintage in Vintage.objects.filter(departement__code=CODE):
        _delete_vintage(vintage)
    call_command("load_territories", str(data / "territoires.gpkg"), verbosity=0)


def _confused_model(root: Path, steps: int, log) -> Path:
    from django.core.management import call_command

    out = root / "var" / "models" / "bench_confused_vines.pt"
    if not out.exists():
        log("training the confused model (vineyards taught as crops) …")
        call_command(
            "train_demo_model",
            out=out,
            steps=steps,
            relabel=[f"{a}:{b}" for a, b in CONFUSED.items()],
            no_register=True,
        )
    return out


def _truth(gpkg: Path, patch):
    """The true class raster of a patch: the generated polygons' classes."""
    import pyogrio
    import rasterio.features
    import shapely

    from apps.inference.ml.synthetic import classes_from_codes

    if not hasattr(_truth, "cache"):
        df = pyogrio.read_dataframe(gpkg, layer="OCCUPATION_SOL")
        geoms = df.geometry.values
        _truth.cache = (
            geoms,
            classes_from_codes(df.code_cs.values, df.code_us.values),
            shapely.STRtree(geoms),
        )
    geoms, values, tree = _truth.cache
    idx = tree.query(shapely.box(*patch.box))
    return rasterio.features.rasterize(
        zip(geoms[idx], values[idx], strict=True),
        out_shape=patch.labels.shape,
        transform=patch.transform,
        fill=0,
        dtype="uint8",
    )


def bench_finetune(args, root: Path) -> dict:
    import django

    django.setup()
    import numpy as np
    import pyogrio
    import shapely
    from django.contrib.gis.geos import GEOSGeometry
    from django.db import transaction

    from apps.inference import finetune, orchestration
    from apps.inference.ml.checkpoint import load_checkpoint
    from apps.inference.ml.train import Sample, evaluate
    from apps.inference.models import InferenceRun, ModelVersion
    from apps.landcover import corrections
    from apps.landcover.models import LandCoverPolygon, PolygonRevision
    from apps.territories.models import Departement
    from benchmarks.run import commit

    log = print
    data = root / "var" / "data" / "bench_finetune"
    started = time.perf_counter()
    _prepare(root, data, log)
    model_path = _confused_model(root, args.finetune_train_steps, log)
    dep = Departement.objects.get(code=CODE)
    report = json.loads(model_path.with_suffix(".json").read_text())
    ModelVersion.objects.filter(departement=dep, parent__isnull=False).delete()
    ModelVersion.objects.filter(departement=dep).delete()
    confused, _ = ModelVersion.objects.update_or_create(
        checkpoint=str(model_path.resolve()),
        defaults={
            "name": "Démo, vignes apprises comme cultures",
            "departement": dep,
            "active": True,
            "state": ModelVersion.State.READY,
            "parent": None,
            "provenance": {
                "replay": {
                    "synthetic": {
                        "seeds": report["train_seeds"],
                        "eval_seeds": report["eval_seeds"],
                        "size_km": report["size_km"],
                        "relabel": report["relabel"],
                    }
                }
            },
        },
    )
    imagery = data / "imagery"
    run = orchestration.start(
        InferenceRun(
            departement=dep,
            rank="M1",
            millesime=2024,
            rgb=str(imagery / "rgb.tif"),
            nir=str(imagery / "nir.tif"),
            elevation=str(imagery / "elevation.tif"),
            checkpoint="",
            block_px=1024,
        )
    )
    run.refresh_from_db()
    if run.state != InferenceRun.State.DONE:
        raise SystemExit(f"inference run {run.pk}: {run.state} {run.message}")
    vintage = run.vintage
    # The operators' corrections: each true vineyard the model read as fields is drawn on the
    # field polygon it overlaps most and accepted (the polygon split along it).
    truth = pyogrio.read_dataframe(data / "ocsge_M1.gpkg", layer="OCCUPATION_SOL")
    vines = truth.geometry.values[truth.code_cs.values == "CS2.1.3"]
    corrected = 0
    with transaction.atomic():
        for vine in vines:
            best, part = None, None
            near = LandCoverPolygon.objects.filter(
                vintage=vintage,
                code_cs="CS2.2.1",
                geom__intersects=GEOSGeometry(memoryview(vine.wkb), srid=dep.srid),
            )
            for polygon in near:
                piece = shapely.intersection(vine, shapely.from_wkb(bytes(polygon.geom.wkb)))
                parts = shapely.get_parts(piece)
                parts = parts[shapely.get_type_id(parts) == 3]
                if len(parts):
                    largest = max(parts, key=shapely.area)
                    if part is None or largest.area > part.area:
                        best, part = polygon, largest
            if part is None or part.area < 2_500:
                continue
            corrections.apply(
                best,
                "CS2.1.3",
                "US1.1",
                GEOSGeometry(memoryview(part.wkb), srid=dep.srid),
                cause=PolygonRevision.Cause.SIGNALEMENT,
                origin="bench",
                tag=f"B{corrected + 1}",
            )
            corrected += 1
    log(f"{corrected} vineyards drawn and accepted on the model's fields")
    version = finetune.start(dep, parent=confused, enqueue=False)
    version = finetune.run(
        version.pk,
        steps=args.finetune_steps,
        patch=256,
        lr=args.finetune_lr,
        device=args.device,
        log=log,
    )
    patches, _ = finetune.corrected_patches(dep, 256)
    split = finetune.spatial_split(patches)
    held = [Sample(p.bands, _truth(data / "ocsge_M1.gpkg", p)) for p in split.held_out]
    before_model, meta = load_checkpoint(confused.checkpoint)
    after_model, _ = load_checkpoint(version.checkpoint)
    before = evaluate(before_model, meta, held, tile=256)
    after = evaluate(after_model, meta, held, tile=256)
    classes = sorted(set(before["iou"]) & set(after["iou"]))
    per_class = {
        c: {
            "before": round(before["iou"][c], 4),
            "after": round(after["iou"][c], 4),
            "delta": round(after["iou"][c] - before["iou"][c], 4),
        }
        for c in classes
        if not np.isnan(before["iou"][c])
    }
    confused_classes = sorted({*CONFUSED, *CONFUSED.values()})
    others = [v["delta"] for c, v in per_class.items() if c not in confused_classes]
    return {
        "commit": commit(),
        "dataset": f"département {CODE}: generate --size-km 4 --seed {SEED}, photos at 2.5 m",
        "polygons": vintage.polygon_count,
        "corrected_polygons": corrected,
        "patches": version.provenance["patches"],
        "train_steps_confused": report.get("steps"),
        "finetune_steps": args.finetune_steps,
        "finetune_lr": args.finetune_lr,
        "finetune_seconds": version.provenance["seconds"],
        "device": version.provenance["device"],
        "per_class": {str(c): v for c, v in per_class.items()},
        "miou": {"before": round(before["miou"], 4), "after": round(after["miou"], 4)},
        "confused_classes": confused_classes,
        "worst_other_delta": round(min(others), 4) if others else None,
        "registry_retained": version.active,
        "registry_metrics": {
            "before": round(version.metrics["before"]["miou"], 4),
            "after": round(version.metrics["after"]["miou"], 4),
            "original_before": round(version.metrics["original_before"]["miou"], 4),
            "original_after": round(version.metrics["original_after"]["miou"], 4),
            "worst_class_delta": round(version.metrics["worst_class_delta"], 4),
        },
        "seconds": round(time.perf_counter() - started),
    }


def render_finetune(r) -> str:
    rows = [
        f"| {c} | {v['before']:.3f} | {v['after']:.3f} | {v['delta']:+.3f} |"
        for c, v in sorted(r["per_class"].items(), key=lambda kv: int(kv[0]))
    ]
    confused = ", ".join(str(c) for c in r["confused_classes"])
    return "\n".join(
        [
            "## Fine-tuning on the territory's corrections",
            "",
            f"{r['dataset']}, commit {r['commit']}. A model taught vineyards (16) as crops "
            f"(14) ({r['train_steps_confused']} steps) produced {r['polygons']:,} polygons; "
            f"{r['corrected_polygons']} true vineyards were drawn on the field polygons they "
            "lay in and accepted (CS2.1.3, the polygons split). Fine-tuning "
            f"({r['finetune_steps']} steps at lr {r.get('finetune_lr', 5e-4):g}, "
            f"{r['finetune_seconds']} s on {r['device']}) trained on {r['patches']['train']} "
            f"corrected patches of 256 px, {r['patches']['held_out']} held out to the east "
            f"({r['patches']['gap']} left out between), with a replay of the model's "
            "original data. IoU on the held-out patches against the truth (the generated "
            "polygons):",
            "",
            "| class | before | after | Δ |",
            "|---:|---:|---:|---:|",
            *rows,
            "",
            f"mIoU {r['miou']['before']:.3f} → {r['miou']['after']:.3f}; confused classes "
            f"({confused}) above; the worst change of any other class: "
            f"{r['worst_other_delta']:+.3f}. The registry's own measure: mIoU on the verified "
            f"labels of the held-out patches {r['registry_metrics']['before']:.3f} → "
            f"{r['registry_metrics']['after']:.3f}, on the held-out original data "
            f"{r['registry_metrics']['original_before']:.3f} → "
            f"{r['registry_metrics']['original_after']:.3f} (worst class "
            f"{r['registry_metrics']['worst_class_delta']:+.3f}): "
            f"{'retained' if r['registry_retained'] else 'not retained'}. "
            f"Whole run {r['seconds']} s.",
        ]
    )
