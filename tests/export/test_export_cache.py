"""The cache key: stable for identical inputs, different for any input that matters, cheap."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from deploy.export.cache import cache_key
from deploy.export.recipes import get_recipe
from deploy.export.validation import Thresholds
from deploy.models import parse_model_name

SPEC = parse_model_name("mobilenet_v1_0.25_64")
FP32, INT8 = get_recipe("xnnpack-fp32"), get_recipe("xnnpack-int8")
THRESHOLDS = Thresholds().as_dict()


def _folder(tmp_path, colour=(10, 20, 30)):
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(folder / "a.png")
    Image.new("RGB", (40, 30), (200, 0, 0)).save(folder / "b.png")
    return folder


def test_key_is_stable_and_depends_on_every_input(tmp_path):
    key = cache_key(SPEC, INT8, None, THRESHOLDS)
    assert key == cache_key(SPEC, INT8, None, THRESHOLDS)
    others = {
        cache_key(SPEC, FP32, None, THRESHOLDS),
        cache_key(parse_model_name("mobilenet_v1_0.25_96"), INT8, None, THRESHOLDS),
        cache_key(parse_model_name("mobilenet_v1_0.5_64"), INT8, None, THRESHOLDS),
        cache_key(SPEC, INT8, None, Thresholds(int8_min_sqnr_db=1).as_dict()),
        cache_key(SPEC, INT8, None, THRESHOLDS, {"torch": "0"}),
        cache_key(SPEC, INT8, _folder(tmp_path), THRESHOLDS),
    }
    assert key not in others and len(others) == 6


def test_key_follows_image_bytes_and_checkpoint_bytes(tmp_path):
    folder = _folder(tmp_path)
    before = cache_key(SPEC, INT8, folder, THRESHOLDS)
    _folder(tmp_path, colour=(11, 20, 30))
    assert cache_key(SPEC, INT8, folder, THRESHOLDS) != before

    checkpoint = tmp_path / "w.pth"
    checkpoint.write_bytes(b"one")
    spec = SPEC.with_weights(str(checkpoint))
    first = cache_key(spec, INT8, None, THRESHOLDS)
    checkpoint.write_bytes(b"two!")
    assert cache_key(spec, INT8, None, THRESHOLDS) != first


def test_key_needs_no_model_and_no_executorch():
    code = (
        "import sys\n"
        "from deploy.export.cache import cache_key\n"
        "from deploy.export.recipes import get_recipe\n"
        "from deploy.models import parse_model_name\n"
        "cache_key(parse_model_name('mobilenet_v3_large_1.0_224'), get_recipe('xnnpack-int8'),"
        " None, {})\n"
        "heavy = [m for m in ('executorch', 'torchao', 'coremltools') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
