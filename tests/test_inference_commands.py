import json

import pytest
from django.core.management import CommandError, call_command

from apps.inference.ml.checkpoint import load_checkpoint

pytestmark = pytest.mark.django_db


def test_train_demo_model_writes_a_checkpoint_and_its_held_out_miou(tmp_path):
    out = tmp_path / "demo.pt"
    call_command(
        "train_demo_model",
        out=out,
        steps=2,
        batch=2,
        crop=64,
        train_seeds=[1],
        eval_seeds=[2],
        size_km=0.8,
    )
    model, meta = load_checkpoint(out, expected_class_ids=list(range(1, 18)))
    assert meta.bands == ["red", "green", "blue", "nir", "elevation"]
    report = json.loads(out.with_suffix(".json").read_text())
    assert 0.0 <= report["miou"] <= 1.0 and report["eval_seeds"] == [2]
    assert report["iou"], "held-out tiles have classes"


def test_train_demo_model_refuses_overlapping_seeds(tmp_path):
    with pytest.raises(CommandError, match="must differ"):
        call_command("train_demo_model", out=tmp_path / "x.pt", train_seeds=[1], eval_seeds=[1])


def test_render_imagery_writes_aligned_seamless_rasters(small_departement, tmp_path):
    import numpy as np
    import rasterio

    from apps.inference.ml.predict import Sources, check_sources
    from apps.inference.ml.synthetic import render_geopackage

    out, _ = small_departement
    result = render_geopackage(
        out / "ocsge_M1.gpkg", tmp_path, res=5.0, block=256, log=lambda *_: None
    )
    paths = result["paths"]
    grid = check_sources(Sources(paths["rgb"], paths["nir"], paths["elevation"]))
    assert grid["crs"].to_epsg() == 2154 and grid["width"] > 512
    with rasterio.open(paths["elevation"]) as dem, rasterio.open(paths["rgb"]) as rgb:
        z = dem.read(1)
        colour = rgb.read()
    # Terrain is continuous across the block seam at column 256 (no jump beyond the slope
    # and the objects standing on it).
    inside = colour[:, :, 250:262].sum(axis=0).min(axis=1) > 0
    seam = np.abs(z[inside, 256] - z[inside, 255])
    near = np.abs(z[inside, 255] - z[inside, 254])
    assert np.median(seam) < np.median(near) + 2.0  # crowns differ a little per block
    assert colour.max() > 0 and (colour.reshape(3, -1).std(axis=1) > 5).all()


def test_render_imagery_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command("render_imagery", str(tmp_path / "none.gpkg"), str(tmp_path / "out"))
