"""Bad input to `bench evaluate` is one line each: a missing or empty folder, a folder whose classes
are not the model's; unreadable images are skipped and counted; --limit takes every class first;
Core ML off macOS is a note, not an error."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from bench.accuracy.evaluation import COREML_RUNTIME, make_plan
from bench.accuracy.folder import read_labelled_folder
from bench.cli import main
from bench.errors import EvaluationError
from bench.store import EAGER_RECIPE, Store
from deploy.artifacts.manifest import Manifest
from deploy.training.digits import CLASSES, MODEL


def _evaluate(capsys, digits, data: Path, *extra: str, store: Path | None = None):
    code = main(
        [
            "evaluate",
            "--data",
            str(data),
            "--artifacts",
            str(digits.artifacts),
            "--store",
            str(store or data.parent / "bench.sqlite"),
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]


def _subset(digits, root: Path, classes: tuple[str, ...], per_class: int) -> Path:
    """`per_class` held-out PNGs of each of `classes`, copied into `root`."""
    for name in classes:
        (root / name).mkdir(parents=True)
        for path in sorted((digits.folder / name).iterdir())[:per_class]:
            shutil.copy(path, root / name / path.name)
    return root


def test_missing_folder(digits, tmp_path, capsys):
    code, _, err = _evaluate(capsys, digits, tmp_path / "nowhere")
    _one_line_error(code, err, "does not exist; pass --data with DIR/<class>/<image>")


def test_empty_folder(digits, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _evaluate(capsys, digits, tmp_path / "empty")
    _one_line_error(code, err, "is empty; lay it out as DIR/<class>/<image>")


def test_classes_that_are_not_the_models(digits, tmp_path, capsys):
    data = _subset(digits, tmp_path / "three", ("0", "1", "2"), 2)
    code, _, err = _evaluate(capsys, digits, data)
    _one_line_error(
        code, err, f"has 3 classes, not the model's: {MODEL} (10 classes); give a folder"
    )
    assert not (tmp_path / "bench.sqlite").exists()  # nothing evaluated, nothing stored


def test_unreadable_images_are_skipped_and_counted(digits, tmp_path, capsys):
    data = _subset(digits, tmp_path / "data", CLASSES, 2)
    (data / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "7" / "notes.txt").write_text("not an image")
    code, out, err = _evaluate(capsys, digits, data)
    assert code == 0, err
    assert "skipped 2 unreadable file(s): 3/broken.png" in out and "7/notes.txt" in out
    with Store.open(tmp_path / "bench.sqlite") as store:
        found = store.evaluations(model=MODEL)
    assert {e.recipe for e in found} == {EAGER_RECIPE, "xnnpack-fp32", "xnnpack-int8"}
    assert {(e.images, e.skipped) for e in found} == {(20, 2)}
    assert {e.detail["skipped_files"] for e in found} == {2}


def test_limit_covers_every_class(digits, tmp_path, capsys):
    store = tmp_path / "limited.sqlite"
    code, out, err = _evaluate(capsys, digits, digits.folder, "--limit", "10", store=store)
    assert code == 0, err
    with Store.open(store) as opened:
        found = opened.evaluations(model=MODEL, recipe=EAGER_RECIPE)
    (record,) = found
    assert record.images == 10 and record.detail["limit"] == 10
    assert record.detail["selection"] == "first 10 round-robin over the classes"
    assert [line for line in out.splitlines() if "10 images evaluated of 10 taken" in line]


def test_coreml_off_macos_is_a_note(digits):
    manifest = Manifest.load(digits.artifacts / "manifest.json")
    (entry,) = [e for e in manifest.valid_entries() if e.recipe_name == "xnnpack-int8"]
    coreml = dataclasses.replace(
        entry, recipe={**entry.recipe, "name": "coreml-int8", "backend": "coreml"}
    )
    folder = read_labelled_folder(digits.folder, limit=10)
    plan = make_plan(manifest, [entry, coreml], folder, coreml_here=False)
    assert [u.recipe for u in plan.units] == [EAGER_RECIPE, "xnnpack-int8"]
    (note,) = plan.notes
    assert "Core ML runs only on macOS: 1 artifact(s) not evaluated" in note
    assert f"{MODEL} coreml-int8" in note and COREML_RUNTIME not in note
    with pytest.raises(EvaluationError, match="no selected artifact runs on this host"):
        make_plan(manifest, [coreml], folder, coreml_here=False)


def test_ctrl_c_keeps_the_whole_chunks_as_a_limited_run(digits, tmp_path, capsys, monkeypatch):
    """Interrupted after the first chunk: its images are stored, exactly as `--limit CHUNK`
    would have stored them (same images, same hash), and marked interrupted."""
    from bench.accuracy import evaluation

    decode = evaluation._decode
    calls = []

    def interrupting(images, preprocessings):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return decode(images, preprocessings)

    monkeypatch.setattr(evaluation, "_decode", interrupting)
    store = tmp_path / "interrupted.sqlite"
    code, out, _ = _evaluate(capsys, digits, digits.folder, store=store)
    assert code == 130 and "interrupted: the first 32 images' results were stored" in out
    monkeypatch.setattr(evaluation, "_decode", decode)
    limited = tmp_path / "limited.sqlite"
    assert _evaluate(capsys, digits, digits.folder, "--limit", "32", store=limited)[0] == 0
    with Store.open(store) as a, Store.open(limited) as b:
        stopped = {e.recipe: e for e in a.evaluations()}
        whole = {e.recipe: e for e in b.evaluations()}
    assert set(stopped) == set(whole) == {EAGER_RECIPE, "xnnpack-fp32", "xnnpack-int8"}
    for recipe, record in stopped.items():
        assert record.detail["interrupted"] and not whole[recipe].detail["interrupted"]
        same = ("images", "top1", "top5", "data_sha256", "reference_top1")
        assert [getattr(record, f) for f in same] == [getattr(whole[recipe], f) for f in same]
        assert record.images == evaluation.CHUNK
