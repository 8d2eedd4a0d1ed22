"""Bad input to `export`: one line on stderr, exit 2, and nothing marked valid."""

from __future__ import annotations

from PIL import Image

from deploy.artifacts.manifest import Manifest
from deploy.cli import COMMANDS, run_cli

EXPORT = {"export": COMMANDS["export"]}
TINY = ["--models", "mobilenet_v1_0.25_32"]


def _run(argv, capsys):
    code = run_cli("python -m deploy", EXPORT, ["export", *argv])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def _nothing_valid(out):
    manifest = Manifest.load(out / "manifest.json")
    assert manifest.valid_entries() == []
    assert not list(out.glob("*.pte")) if out.is_dir() else True


def test_unknown_recipe(tmp_path, capsys):
    code, err = _run([*TINY, "--recipes", "xnnpack-int4", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert len(err) == 1 and "xnnpack-int4" in err[0] and "xnnpack-fp32" in err[0]
    _nothing_valid(tmp_path)


def test_unknown_model(tmp_path, capsys):
    code, err = _run(["--models", "mobilenet_v9_1.0_224", "--out", str(tmp_path)], capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("error:")


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = _run([*TINY, "--out", str(blocker / "artifacts")], capsys)
    assert code == 2
    assert len(err) == 1 and "output folder" in err[0] and "--out" in err[0]


def test_empty_calibration_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    code, err = _run([*TINY, "--calibration-dir", str(empty), "--out", str(out)], capsys)
    assert code == 2 and len(err) == 1 and "no readable images" in err[0]
    _nothing_valid(out)


def test_calibration_folder_of_corrupt_files(tmp_path, capsys):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    code, err = _run([*TINY, "--calibration-dir", str(folder), "--out", str(out)], capsys)
    assert code == 2 and err[-1].startswith("error:") and "no readable images" in err[-1]
    assert any(line.startswith("warning: skipping a.jpg") for line in err)
    _nothing_valid(out)


def test_too_few_images(tmp_path, capsys):
    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(folder / "only.png")
    out = tmp_path / "out"
    code, err = _run([*TINY, "--calibration-dir", str(folder), "--out", str(out)], capsys)
    # the error, after our one-line warning that fewer than 8 images are unreliable
    assert code == 2 and len(err) == 2 and "at least 2" in err[1]
    assert err[0].startswith(f"warning: only 1 usable image in {folder}")


def test_corrupt_checkpoint(tmp_path, capsys):
    checkpoint = tmp_path / "broken.pth"
    checkpoint.write_bytes(b"PK\x03\x04 truncated zip")
    out = tmp_path / "out"
    code, err = _run([*TINY, "--weights", str(checkpoint), "--out", str(out)], capsys)
    assert code == 2 and len(err) == 1 and "cannot be read" in err[0]
    _nothing_valid(out)


def test_missing_checkpoint(tmp_path, capsys):
    code, err = _run(
        [*TINY, "--weights", str(tmp_path / "nope.pth"), "--out", str(tmp_path)], capsys
    )
    assert code == 2 and len(err) == 1 and "does not exist" in err[0]
