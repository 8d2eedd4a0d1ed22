"""What a newcomer sees: `python -m deploy export` and `python -m bench bench-peers` print our
lines only - no third-party chatter that reads as failure - and our own warnings still show."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from deploy.images import skimage_photographs

# Every line third-party code printed here before deploy.quiet (see its docstring).
NOISE = re.compile(
    r"Failed to load|_C_\w+\.so|Enum subclass|register_constant|cpuinfo|midr|cpus dont match"
    r"|torchvision is not installed|LeafSpec|site-packages|Warning:|^[WIEF]\d{4} \d"
)
# Lines of ours on stderr: warnings, failed artifacts, progress of bench-peers.
OURS = re.compile(
    r"^(warning|error|invalid): "
    r"|^(\[\d+/\d+\] )?mobilenet_[\w.]+(:| \S+( round \d+/\d+)?: median )"
)


def _run(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "DEPLOY_SHOW_THIRD_PARTY"}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


def _assert_only_ours(stdout, stderr):
    noise = [line for line in stdout + stderr if NOISE.search(line)]
    assert noise == [], "third-party output:\n" + "\n".join(noise)
    foreign = [line for line in stderr if line.strip() and not OURS.match(line)]
    assert foreign == [], "stderr lines that are not ours:\n" + "\n".join(foreign)


def test_export_prints_only_our_lines_and_our_warnings(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for photo in skimage_photographs()[:7]:
        shutil.copy(photo, images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    code, out, err = _run(
        [
            "-m",
            "deploy",
            "export",
            *("--models", "mobilenet_v1_0.25_32", "--recipes", "xnnpack-fp32,xnnpack-int8"),
            *("--calibration-dir", str(images), "--out", str(tmp_path / "out")),
            # fidelity is not the point here: a failed artifact would only add an `invalid:` line
            *("--int8-min-sqnr", "0", "--int8-min-cosine", "0"),
        ],
        cwd=tmp_path,
    )
    assert code == 0, "\n".join(out + err)
    _assert_only_ours(out, err)
    assert any(
        line.startswith("warning: skipping broken.jpg: not a readable image") for line in err
    )
    assert any(line.startswith(f"warning: only 7 usable images in {images}") for line in err)


def test_bench_peers_prints_only_our_lines(tmp_path):
    pytest.importorskip("onnxruntime")  # like tests/peers: the peers extras may be absent
    pytest.importorskip("onnxscript")
    # cwd: the peer files go to build/peers under it; ORT only: no runner, no artifacts needed
    code, out, err = _run(
        [
            "-m",
            "bench",
            "bench-peers",
            *("--models", "mobilenet_v1_0.25_32", "--runtimes", "ort-fp32"),
            *("--manifest", str(tmp_path / "none.json"), "--store", str(tmp_path / "s.sqlite")),
            *("--warmup", "1", "--iterations", "3", "--min-time", "0", "--max-time", "1"),
        ],
        cwd=tmp_path,
    )
    assert code == 0, "\n".join(out + err)
    assert any("exporting ONNX fp32" in line for line in err)  # the noisy path did run
    _assert_only_ours(out, err)


_ONLY_THE_KNOWN_NOISE = """
import logging, warnings
from deploy import quiet
with quiet.installed():
    logging.getLogger("torchao").warning("Failed to load /x/torchao/_C_cutlass_90a.abi3.so: no")
    logging.getLogger("torchao").warning("torchao: something else")
    logging.getLogger("torch.onnx._internal.exporter._registration").warning(
        "torchvision is not installed. Skipping %s", "torchvision::nms"
    )
    logging.getLogger("deploy.export").warning("ours, from a logger")
    leaf = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    warnings.warn_explicit(leaf, FutureWarning, "copyreg.py", 105)
    warnings.warn_explicit("another library's warning", UserWarning, "/lib/other.py", 7)
    warnings.warn_explicit("ours, from a warning", UserWarning, quiet.__file__, 1)
"""


def test_only_the_known_noise_is_silenced():
    code, out, err = _run(["-c", _ONLY_THE_KNOWN_NOISE], cwd=None)
    assert code == 0 and out == []
    assert err[0] == "torchao: something else"
    assert err[1] == "ours, from a logger"
    assert err[2].startswith("/lib/other.py:7: UserWarning: another library's warning")
    assert err[3] == "warning: ours, from a warning"
    assert len(err) == 4, err
