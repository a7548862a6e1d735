"""Aerial photos as delivered: folders of JPEG 2000 dalles (BD ORTHO RVB, BD ORTHO IRC with
near infrared in band 1) and elevation dalles at a coarser resolution, made into aligned
virtual mosaics the model reads; missing dalles refused with their names; a whole run from
folders."""

import io
import shutil

import numpy as np
import pytest
import rasterio
from django.core.management import call_command
from rasterio.enums import Resampling
from rasterio.windows import Window

from apps.inference import mosaic
from apps.inference.ml.predict import Sources, check_sources
from apps.territories.models import Departement

pytestmark = pytest.mark.django_db

DALLE_PX = 200  # the test imagery is about 400 × 400 px at 10 m: 2 × 2 photo dalles


def _cut(src_path, folder, name, bands, driver, factor=1):
    """Cut a raster into 2 × 2 dalles (JPEG 2000 lossless, or GeoTIFF), `factor` times
    coarser; `bands`: which source bands, in the dalle's order."""
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(src_path) as src:
        for i in range(2):
            for j in range(2):
                width = min(DALLE_PX, src.width - j * DALLE_PX)
                height = min(DALLE_PX, src.height - i * DALLE_PX)
                window = Window(j * DALLE_PX, i * DALLE_PX, width, height)
                shape = (len(bands), -(-height // factor), -(-width // factor))
                data = src.read(
                    bands, window=window, out_shape=shape, resampling=Resampling.average
                )
                transform = src.window_transform(window) * rasterio.Affine.scale(factor)
                options = {"QUALITY": 100, "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
                suffix = "jp2" if driver == "JP2OpenJPEG" else "tif"
                with rasterio.open(
                    folder / f"{name}_{j}-{i}.{suffix}",
                    "w",
                    driver=driver,
                    width=shape[2],
                    height=shape[1],
                    count=len(bands),
                    dtype=data.dtype,
                    crs=src.crs,
                    transform=transform,
                    **options,
                ) as out:
                    out.write(data)
    return folder


@pytest.fixture
def delivered(imagery, tmp_path):
    """The test imagery as IGN delivers it: RGB and IRC (NIR, R, G) JPEG 2000 dalles, and
    elevation GeoTIFF dalles at 20 m for photos at 10 m."""
    irc = tmp_path / "irc.tif"
    with rasterio.open(imagery["rgb"]) as rgb, rasterio.open(imagery["nir"]) as nir:
        profile = rgb.profile
        stack = np.concatenate([nir.read([1]), rgb.read([1, 2])])
    with rasterio.open(irc, "w", **{**profile, "count": 3}) as out:
        out.write(stack)
    return {
        "rgb": _cut(imagery["rgb"], tmp_path / "BDORTHO_RVB", "RVB", [1, 2, 3], "JP2OpenJPEG"),
        "nir": _cut(irc, tmp_path / "BDORTHO_IRC", "IRC", [1, 2, 3], "JP2OpenJPEG"),
        "elevation": _cut(imagery["elevation"], tmp_path / "RGEALTI", "MNT", [1], "GTiff", 2),
        "source": imagery,
    }


def test_dalles_make_aligned_mosaics_on_the_photos_grid(delivered, tmp_path):
    prepared = mosaic.prepare(
        delivered["rgb"], delivered["nir"], delivered["elevation"], tmp_path / "work"
    )
    grid = check_sources(Sources(prepared.rgb, prepared.nir, prepared.elevation))
    source = delivered["source"]
    with rasterio.open(source["rgb"]) as whole:
        expected = (whole.width, whole.height, 2154)
    assert (grid["width"], grid["height"], grid["crs"].to_epsg()) == expected
    with rasterio.open(prepared.rgb) as a, rasterio.open(source["rgb"]) as b:
        assert (a.read([1, 2, 3]) == b.read()).all()  # lossless dalles, mosaicked back whole
        assert (a.dataset_mask() == 255).all()  # photos everywhere
    with rasterio.open(prepared.nir) as a, rasterio.open(source["nir"]) as b:
        assert a.count == 1 and (a.read(1) == b.read(1)).all()  # band 1 of the IRC dalles
    with rasterio.open(prepared.elevation) as a, rasterio.open(source["elevation"]) as b:
        resampled, original = a.read(1).astype(float), b.read(1).astype(float)
    assert resampled.shape == original.shape
    assert np.abs(resampled - original).mean() < 0.5 * original.std()
    assert prepared.report == [
        "RVB : 4 dalles",
        "IRC : 4 dalles, bande 1",
        "altitude : 4 dalles à 20 m, rééchantillonnées à 10 m",
    ]


def test_a_photo_dalle_without_its_infrared_dalle_is_named(delivered, tmp_path):
    (delivered["nir"] / "IRC_1-0.jp2").unlink()
    with pytest.raises(mosaic.MosaicError, match="aucune dalle infrarouge pour 1 dalle.*RVB_1-0"):
        mosaic.prepare(delivered["rgb"], delivered["nir"], delivered["elevation"], tmp_path / "w")


def test_photos_not_covered_by_elevation_are_named(delivered, tmp_path):
    (delivered["elevation"] / "MNT_0-1.tif").unlink()
    with pytest.raises(mosaic.MosaicError, match="altitude : 1 dalle.*non couverte.*: RVB_0-1"):
        mosaic.prepare(delivered["rgb"], delivered["nir"], delivered["elevation"], tmp_path / "w")


def test_where_no_dalle_lies_nothing_is_classified_and_the_report_says_so(
    delivered, checkpoint, tmp_path
):
    """A photo dalle missing (or the edge of the territory): its pixels are masked in the
    mosaic, get no class (0, the class raster's nodata) and so no polygon; the report gives
    the share of the mosaic's box without photos."""
    from apps.inference.ml.checkpoint import load_checkpoint
    from apps.inference.ml.predict import CLASS_NODATA, predict_to_cog

    (delivered["rgb"] / "RVB_1-1.jp2").unlink()  # the lower-right dalle, 187 × 192 px
    prepared = mosaic.prepare(
        delivered["rgb"], delivered["nir"], delivered["elevation"], tmp_path / "work"
    )
    assert "RVB : 23,7 % de l'emprise sans dalle" in " ".join(prepared.report)  # of 387 × 392 px
    model, meta = load_checkpoint(checkpoint)
    sources = Sources(prepared.rgb, prepared.nir, prepared.elevation)
    predict_to_cog(model, meta, sources, tmp_path / "c.tif", tmp_path / "f.tif", device="cpu")
    with rasterio.open(tmp_path / "c.tif") as classes:
        c = classes.read(1)
    assert c.shape == (392, 387)  # rows, columns
    assert (c[DALLE_PX:, DALLE_PX:] == CLASS_NODATA).all()  # the missing dalle
    assert (c[:DALLE_PX, :] != CLASS_NODATA).all() and (c[:, :DALLE_PX] != CLASS_NODATA).all()


def test_an_empty_folder_is_refused(delivered, tmp_path):
    empty = tmp_path / "vide"
    empty.mkdir()
    with pytest.raises(mosaic.MosaicError, match="RVB : aucune dalle"):
        mosaic.prepare(empty, delivered["nir"], delivered["elevation"], tmp_path / "w")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_inference_takes_the_folders_as_delivered(delivered, checkpoint, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    Departement.objects.create(code="99", name="Essai")
    out = io.StringIO()
    call_command(
        "run_inference",
        departement="99",
        rank="M1",
        millesime=2024,
        rgb=delivered["rgb"],
        nir=delivered["nir"],
        elevation=delivered["elevation"],
        checkpoint=checkpoint,
        block_px=512,
        device="cpu",
        stdout=out,
    )
    assert "polygons in draft vintage" in out.getvalue()
    vrts = sorted(p.name for p in (tmp_path / "data" / "inference").rglob("*.vrt"))
    assert vrts == ["elevation.vrt", "nir.vrt", "rgb.vrt"]
    shutil.rmtree(tmp_path / "data")
