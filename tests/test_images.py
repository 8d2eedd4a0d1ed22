"""Real photographs in, ImageNet-preprocessed, contiguous tensors out."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from deploy.errors import ImageSetError
from deploy.images import IMAGENET_MEAN, IMAGENET_STD, load_images, skimage_photographs


def test_default_set_is_skimage_photographs_preprocessed_channels_first():
    images = load_images(None, 48)
    assert len(images) == len(skimage_photographs()) >= 15
    assert images.tensor.shape == (len(images), 3, 48, 48)
    # Contiguous NCHW: a channels-last view would bake layout copies into exported programs.
    assert images.tensor.is_contiguous()
    kept, held = images.split()
    assert kept.tensor.is_contiguous() and held.tensor.is_contiguous()
    assert len(kept) + len(held) == len(images) and set(kept.files).isdisjoint(held.files)
    # Normalised with ImageNet statistics: roughly centred, not in [0, 1].
    assert images.tensor.min() < -1.0 and abs(images.tensor.mean()) < 1.0
    assert images.sha256 != kept.sha256 != held.sha256


@pytest.mark.filterwarnings("ignore:only 1 usable image")
def test_unreadable_files_are_skipped_with_a_warning(tmp_path):
    shutil.copy(skimage_photographs()[0], tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipping b.jpg"):
        images = load_images(tmp_path, 32)
    assert [p.name for p in images.files] == ["a.png"]


def test_a_folder_with_nothing_usable_is_one_line_naming_the_fix(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning), pytest.raises(ImageSetError, match="no readable images"):
        load_images(tmp_path, 32)
    with pytest.raises(ImageSetError, match="does not exist"):
        load_images(tmp_path / "missing", 32)


@pytest.mark.filterwarnings("ignore:only 1 usable image")
def test_grey_photographs_become_three_identical_channels(tmp_path):
    shutil.copy(next(p for p in skimage_photographs() if p.name == "camera.png"), tmp_path)
    image = load_images(tmp_path, 32).tensor[0]
    raw = image * torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) + torch.from_numpy(
        IMAGENET_MEAN
    ).view(3, 1, 1)
    assert torch.allclose(raw[0], raw[1], atol=1e-5) and torch.allclose(raw[1], raw[2], atol=1e-5)


# Large and hostile images. PNGs are written row by row through zlib (a single grey level, so a
# 13000x13000 image is a ~1 MB file made in well under a second) and decoded in a child process,
# whose own peak resident memory is the measurement.

HUGE = 13_000  # 169 M pixels: above Pillow's warning limit, below its error limit
BOMB = 20_000  # 400 M pixels: above Pillow's error limit
MEMORY_LIMIT_MB = 300


def _grey_png(path, size, mode="L"):
    """A `size` x `size` PNG of one grey level in mode "1", "L" or "RGB", without a full buffer."""
    bits, channels, colour_type = {"1": (1, 1, 0), "L": (8, 1, 0), "RGB": (8, 3, 2)}[mode]
    row = b"\x00" + b"\x80" * ((size * channels * bits + 7) // 8)  # filter byte, then pixels
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(size)) + packer.flush()

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", size, size, bits, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


# The peak is the child's own high-water mark (VmHWM), reset after the imports: ru_maxrss would
# keep the parent's size from before the exec (a pytest process that loaded torch: ~400 MB).
_CHILD = """
import json, sys
from pathlib import Path
from deploy.images import preprocess

def hwm_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current size
report = {"before_mb": hwm_mb()}
try:
    report["means"] = preprocess(Path(sys.argv[1]), 224).mean(axis=(1, 2)).tolist()
except Exception as exc:
    report["error"] = f"{type(exc).__name__}: {exc}"
report["peak_mb"] = hwm_mb()
print(json.dumps(report))
"""


def _decode_in_child(path):
    """Preprocess `path` alone in a fresh process: its peak memory (MB) before and after, and
    the per-channel means of the result (or the error)."""
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


#: What a uniform 0x80 grey image preprocesses to, per channel.
GREY = ((128 / 255 - IMAGENET_MEAN) / IMAGENET_STD).tolist()


def test_a_huge_png_is_decoded_reduced_in_bounded_memory(tmp_path):
    report = _decode_in_child(_grey_png(tmp_path / "huge.png", HUGE, "L"))
    # Before: ~1 GB (decoded whole, converted to RGB at full size, resized from there).
    assert report["peak_mb"] < MEMORY_LIMIT_MB, report
    assert report["peak_mb"] - report["before_mb"] < 200, report  # the 169 MB grey buffer
    assert report["means"] == pytest.approx(GREY, abs=1e-3)


def test_a_png_too_big_to_decode_is_refused_before_decoding(tmp_path):
    report = _decode_in_child(_grey_png(tmp_path / "huge.png", HUGE, "RGB"))
    # Before: ~1.5 GB. A PNG cannot be decoded reduced, and this one would need 645 MiB.
    assert report["peak_mb"] < MEMORY_LIMIT_MB, report
    assert report["peak_mb"] - report["before_mb"] < 20, report
    assert report.get("error", "").startswith("ImageTooLarge: 13000x13000 RGB would take"), report


def test_a_huge_jpeg_is_decoded_at_a_fraction_by_the_decoder(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("L", (8000, 8000), 128).save(path, quality=95)
    report = _decode_in_child(path)
    # Before: the 64 MB grey image plus a 256 MB RGB copy of it; now decoded at 1/8 scale.
    assert report["peak_mb"] - report["before_mb"] < 40, report
    assert report["means"] == pytest.approx(GREY, abs=0.02)


def test_bombs_and_undecodable_giants_are_skipped_with_one_line_each(tmp_path):
    shutil.copy(skimage_photographs()[0], tmp_path / "a.png")
    _grey_png(tmp_path / "bomb.png", BOMB, "1")
    _grey_png(tmp_path / "giant.png", HUGE, "RGB")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = load_images(tmp_path, 32)
    assert [p.name for p in images.files] == ["a.png"]
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("skipping bomb.png: too large to decode") for m in messages)
    assert any(m.startswith("skipping giant.png: too large to decode") for m in messages)
    assert all("\n" not in m for m in messages)


def test_fewer_than_eight_usable_images_is_one_warning_naming_folder_and_count(tmp_path):
    for i in range(3):
        Image.new("RGB", (64, 48), (i, 50, 100)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(load_images(tmp_path, 32)) == 3
    few = [str(w.message) for w in caught if str(w.message).startswith("only")]
    assert len(few) == 1 and few[0].startswith(f"only 3 usable images in {tmp_path}:"), few
    assert "\n" not in few[0]
    # The default set (20 photographs) says nothing.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_images(None, 32)
    assert caught == []


# -- an artifact's recipe (deploy.artifacts.preprocessing) instead of ImageNet's ---------------


def _hand(image: Image.Image, short: int, crop: int) -> np.ndarray:
    """Resize the shorter side to `short` (bilinear), centre-crop `crop`: uint8 H x W (x 3)."""
    width, height = image.size
    scale = short / min(width, height)
    size = (max(short, round(width * scale)), max(short, round(height * scale)))
    resized = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - crop) // 2, (size[1] - crop) // 2
    return np.asarray(resized.crop((left, top, left + crop, top + crop)))


def test_a_recipe_applies_every_step_as_written(tmp_path):
    from deploy.artifacts.preprocessing import Preprocessing
    from deploy.images import preprocess

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(30, 45, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(tmp_path / "p.png")
    recipe = Preprocessing(
        name="test",
        resize=20,
        crop=16,
        mean=(0.1, 0.2, 0.3),
        std=(0.5, 0.25, 2.0),
        channel_order="BGR",
        value_range=(-1.0, 1.0),
    )
    cropped = _hand(Image.fromarray(pixels, "RGB"), 20, 16).astype(np.float64)
    values = -1.0 + 2.0 * cropped / 255.0  # 0..255 onto value_range
    bgr = values[:, :, ::-1]
    expected = (bgr - np.array(recipe.mean)) / np.array(recipe.std)
    got = preprocess(tmp_path / "p.png", recipe)
    assert got.shape == (3, 16, 16) and got.dtype == np.float32 and got.flags.c_contiguous
    assert np.allclose(got, expected.transpose(2, 0, 1), atol=1e-5)


def test_lll_is_grey_replicated_with_its_mean_and_std(tmp_path):
    from deploy.artifacts.preprocessing import Preprocessing
    from deploy.images import load_images, preprocess

    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(tmp_path / "c.png")
    recipe = Preprocessing("grey", 24, 24, (0.3, 0.3, 0.3), (0.4, 0.4, 0.4), "LLL")
    grey = np.asarray(Image.fromarray(pixels, "RGB").convert("L"), dtype=np.float64) / 255.0
    got = preprocess(tmp_path / "c.png", recipe)
    assert np.allclose(got, np.stack([(grey - 0.3) / 0.4] * 3), atol=1e-6)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[1], got[2])
    with pytest.warns(UserWarning, match="only 1 usable image"):
        assert load_images(tmp_path, recipe).tensor.shape == (1, 3, 24, 24)


def test_the_imagenet_recipe_is_the_resolution_bit_for_bit():
    from deploy.artifacts.preprocessing import imagenet
    from deploy.images import preprocess

    for path in skimage_photographs()[:4]:
        for resolution in (64, 224):
            assert np.array_equal(
                preprocess(path, resolution), preprocess(path, imagenet(resolution))
            )
