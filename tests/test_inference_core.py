"""The inference ML core (no Django): checkpoints, tiled prediction, bad inputs."""

import numpy as np
import pytest
import rasterio
import shapely
import torch
from affine import Affine

from apps.inference.ml.checkpoint import (
    CheckpointError,
    ModelMeta,
    load_checkpoint,
    save_checkpoint,
)
from apps.inference.ml.predict import InputError, Sources, predict_array, predict_to_cog
from apps.inference.ml.unet import UNet

CLASSES = [(i, f"classe {i}") for i in range(1, 18)]


def _meta(**kw):
    return ModelMeta(
        encoder="resnet18",
        classes=CLASSES,
        mean=[100, 100, 100, 100, 50],
        std=[50, 50, 50, 50, 20],
        tile_size=128,
        **kw,
    )


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = UNet("resnet18", 5, 17)
    # Make batch norm non-trivial so the test exercises real statistics.
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def _write(path, array, transform, crs="EPSG:2154", dtype="uint8"):
    count = array.shape[0]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=count,
        dtype=dtype,
        crs=crs,
        transform=transform,
    ) as ds:
        ds.write(array.astype(dtype))
    return path


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    h = w = 320
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 9.0) + np.cos(yy / 13.0)) * 60 + 120
    rgb = np.stack([base + rng.normal(0, 10, (h, w)) for _ in range(3)])
    nir = base[None] * 0.8 + rng.normal(0, 10, (1, h, w))
    dem = yy[None] * 0.1 + 40.0
    t = Affine(0.5, 0, 700_000, 0, -0.5, 6_600_000)
    return Sources(
        _write(d / "rgb.tif", np.clip(rgb, 0, 255), t),
        _write(d / "nir.tif", np.clip(nir, 0, 255), t),
        _write(d / "dem.tif", dem, t, dtype="float32"),
    ), t


def test_checkpoint_round_trip_gives_the_same_function(model, tmp_path, rasters):
    path = save_checkpoint(tmp_path / "m.pt", model, _meta())
    loaded, meta = load_checkpoint(path, expected_class_ids=list(range(1, 18)))
    x = torch.randn(1, 5, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    assert meta.bands[3] == "nir" and meta.tile_size == 128


def test_checkpoint_mismatch_names_the_wrong_key_or_shape(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, _meta())
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["decoder.blocks.0.conv1.0.weight"] = torch.zeros(3, 3, 3, 3)
    del payload["state_dict"]["segmentation_head.0.bias"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "missing key(s): segmentation_head.0.bias" in text
    assert "shape of decoder.blocks.0.conv1.0.weight: checkpoint (3, 3, 3, 3)" in text


def test_checkpoint_for_other_classes_is_refused(tmp_path):
    m = UNet("resnet18", 5, 13)
    meta = ModelMeta(
        encoder="resnet18", classes=[(i, str(i)) for i in range(13)], mean=[0] * 5, std=[1] * 5
    )
    path = save_checkpoint(tmp_path / "m13.pt", m, meta)
    with pytest.raises(CheckpointError, match="predicts classes"):
        load_checkpoint(path, expected_class_ids=list(range(1, 18)))


def test_garbage_checkpoint_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_tiled_prediction_equals_whole_image_prediction(model, rasters, tmp_path):
    sources, t = rasters
    times = predict_to_cog(
        model,
        _meta(),
        sources,
        tmp_path / "c.tif",
        tmp_path / "f.tif",
        tile=128,
        margin=32,
        batch_size=3,
    )
    stack = np.concatenate(
        [
            rasterio.open(sources.rgb).read(),
            rasterio.open(sources.nir).read(),
            rasterio.open(sources.elevation).read(),
        ]
    ).astype(np.float32)
    whole_c, whole_f = predict_array(model, _meta(), stack)
    with rasterio.open(tmp_path / "c.tif") as c, rasterio.open(tmp_path / "f.tif") as f:
        assert c.transform == t and c.crs.to_epsg() == 2154
        assert c.profile["tiled"] and c.profile["compress"] == "deflate"
        tiled_c, tiled_f = c.read(1), f.read(1)
    agree = (tiled_c == whole_c).mean()
    assert agree > 0.995, f"tiled and whole-image classes agree on {agree:.4f} only"
    assert np.abs(tiled_f.astype(int) - whole_f.astype(int)).mean() < 1.0
    assert times.tiles == 25 and times.pixels == 320 * 320


def test_rasters_not_aligned_are_refused(model, rasters, tmp_path):
    sources, t = rasters
    shifted = _write(
        tmp_path / "nir2.tif", np.zeros((1, 320, 320)), Affine(0.5, 0, 700_010, 0, -0.5, 6_600_000)
    )
    with pytest.raises(InputError, match="nir raster is not aligned"):
        predict_to_cog(
            model,
            _meta(),
            Sources(sources.rgb, shifted, sources.elevation),
            tmp_path / "c.tif",
            tmp_path / "f.tif",
        )


def test_wrong_crs_and_missing_band_are_refused(model, rasters, tmp_path):
    sources, t = rasters
    other = _write(tmp_path / "dem.tif", np.zeros((1, 320, 320)), t, crs="EPSG:4326")
    with pytest.raises(InputError, match="elevation raster is in EPSG:4326"):
        predict_to_cog(
            model,
            _meta(),
            Sources(sources.rgb, sources.nir, other),
            tmp_path / "c.tif",
            tmp_path / "f.tif",
        )
    two = _write(tmp_path / "rgb2.tif", np.zeros((2, 320, 320)), t)
    with pytest.raises(InputError, match="has 2 band"):
        predict_to_cog(
            model,
            _meta(),
            Sources(two, sources.nir, sources.elevation),
            tmp_path / "c.tif",
            tmp_path / "f.tif",
        )
    assert not (tmp_path / "c.tif").exists()


def test_vectorized_classes_tile_the_area_honour_mmus_and_carry_mean_confidence():
    from apps.inference.ml.synthetic import themes_to_classes
    from ocsge import synth
    from ocsge.vectorize import vectorize_classes

    land = synth.draw_landscape("99", 1.5, seed=5, log=lambda *_: None)
    classes = themes_to_classes(land.m1)
    rng = np.random.default_rng(0)
    # Noisy predictions: salt-and-pepper errors the sieve must clean up.
    noisy = classes.copy()
    flip = (rng.random(classes.shape) < 0.02) & (classes > 0)
    noisy[flip] = rng.integers(1, 18, flip.sum())
    conf = np.where(flip, 30, 90).astype(np.uint8)
    result = vectorize_classes(noisy, conf, land.transform)
    geoms = result.geoms
    assert shapely.is_valid(geoms).all() and shapely.coverage_is_valid(geoms)
    inside_area = (classes > 0).sum() * land.res**2
    # The outline is simplified with the rest: a few pixels of area move across it.
    assert abs(shapely.area(geoms).sum() - inside_area) / inside_area < 1e-4
    area = shapely.area(geoms)
    buildings = np.isin(result.values, (1, 5))
    assert (area[buildings] >= 200).all() and (area[~buildings] >= 500).all()
    assert ((result.confidence >= 30) & (result.confidence <= 90)).all()
    big = area > 50_000
    assert (result.confidence[big] > 85).all()  # few flipped pixels in big polygons
    assert len(geoms) < 0.2 * flip.sum()  # the noise did not become polygons
