"""The manifest contract: schema, atomic save, lookups, migration, integrity."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from deploy.artifacts import manifest as manifest_module
from deploy.artifacts.manifest import (
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    ManifestEntry,
    verify_artifact,
)
from deploy.errors import ArtifactIntegrityError, DeployError, ManifestError
from tests.export.helpers import make_entry


def test_round_trip_and_file_layout(tmp_path):
    path = tmp_path / "manifest.json"
    manifest = Manifest.load(path)
    assert manifest.entries == []
    entry = make_entry(tmp_path)
    manifest.upsert(entry)
    manifest.save()
    document = json.loads(path.read_text())
    assert document["schema_version"] == MANIFEST_SCHEMA_VERSION == 2
    assert document["artifacts"][0]["sha256"] == entry.sha256
    loaded = Manifest.load(path)
    assert loaded.entries == [entry]
    assert loaded.entries[0].model_name == "mobilenet_v2_1.0_224"
    assert loaded.entries[0].recipe_name == "xnnpack-fp32"
    assert loaded.entries[0].precision == "fp32"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_required_fields_are_in_every_entry(tmp_path):
    required = {
        "sha256", "file", "size_bytes", "model", "recipe", "input_shape", "params", "madds",
        "weights", "calibration", "fidelity", "valid", "delegation", "toolchain", "exported_at",
        "export_s", "cache_key", "preprocessing",
    }  # fmt: skip
    assert required <= set(make_entry(tmp_path).to_dict())


def test_find_valid_entries_and_path_of(tmp_path):
    manifest = Manifest(tmp_path / "manifest.json")
    fp32 = make_entry(tmp_path, "a.pte", b"a")
    int8 = make_entry(
        tmp_path, "b.pte", b"b", valid=False, recipe={**fp32.recipe, "name": "xnnpack-int8"}
    )
    manifest.upsert(fp32)
    manifest.upsert(int8)
    assert manifest.valid_entries() == [fp32]
    assert manifest.find(recipe_name="xnnpack-int8") == [int8]
    assert manifest.find(model_name="mobilenet_v2_1.0_224") == [fp32, int8]
    assert manifest.find(model_name="nope") == []
    assert manifest.path_of(fp32) == (tmp_path / "a.pte").resolve()
    assert manifest.path_of(fp32).is_absolute()


def test_upsert_replaces_same_sha_or_same_slot(tmp_path):
    manifest = Manifest(tmp_path / "manifest.json")
    first = make_entry(tmp_path, "a.pte", b"a")
    manifest.upsert(first)
    again = make_entry(tmp_path, "a.pte", b"a", export_s=2.0)
    assert manifest.upsert(again) == [first]
    newer = make_entry(tmp_path, "c.pte", b"c")  # same model, recipe, weights: supersedes
    assert manifest.upsert(newer) == [again]
    other = make_entry(tmp_path, "d.pte", b"d", weights={"source": "imagenet", "detail": "x"})
    assert manifest.upsert(other) == []
    assert manifest.entries == [newer, other]


def test_missing_file_is_empty_and_corrupt_json_names_the_fix(tmp_path):
    assert Manifest.load(tmp_path / "none.json").entries == []
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="delete it and re-export"):
        Manifest.load(bad)
    bad.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ManifestError):
        Manifest.load(bad)
    assert issubclass(ManifestError, DeployError)


def test_newer_or_unknown_schema_version_is_refused(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 99, "artifacts": []}))
    with pytest.raises(ManifestError, match="newer"):
        Manifest.load(path)
    path.write_text(json.dumps({"schema_version": 0, "artifacts": []}))
    with pytest.raises(ManifestError, match="cannot be upgraded"):
        Manifest.load(path)


def test_migration_hook_upgrades_a_synthetic_v0(tmp_path, monkeypatch):
    entry = make_entry(tmp_path).to_dict()
    v0_entry = {k: v for k, v in entry.items() if k != "cache_key"}
    v0_entry["digest"] = v0_entry.pop("sha256")  # pretend v0 called it "digest"

    def v0_to_v1(document):
        for item in document["artifacts"]:
            item["sha256"] = item.pop("digest")
            item["cache_key"] = ""
        return document

    monkeypatch.setitem(manifest_module.MIGRATIONS, 0, v0_to_v1)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 0, "artifacts": [v0_entry]}))
    loaded = Manifest.load(path)
    assert loaded.entries[0].sha256 == entry["sha256"]
    loaded.save()
    assert json.loads(path.read_text())["schema_version"] == MANIFEST_SCHEMA_VERSION


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    manifest = Manifest(path, [make_entry(tmp_path)])
    manifest.save()
    before = path.read_text()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    manifest.upsert(make_entry(tmp_path, "b.pte", b"b", weights={"source": "x", "detail": "y"}))
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        manifest.save()
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pte", "b.pte", "manifest.json"]


def test_verify_artifact_catches_missing_and_tampered_files(tmp_path):
    manifest = Manifest(tmp_path / "manifest.json")
    entry = make_entry(tmp_path)
    assert verify_artifact(manifest, entry) == (tmp_path / "a.pte").resolve()
    (tmp_path / "a.pte").write_bytes(b"programX")
    with pytest.raises(ArtifactIntegrityError, match="tampered"):
        verify_artifact(manifest, entry)
    (tmp_path / "a.pte").unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        verify_artifact(manifest, entry)


def test_entry_from_dict_ignores_unknown_and_rejects_incomplete(tmp_path):
    data = make_entry(tmp_path).to_dict()
    assert ManifestEntry.from_dict({**data, "future_field": 1}).sha256 == data["sha256"]
    del data["fidelity"]
    with pytest.raises(ManifestError, match="fidelity"):
        ManifestEntry.from_dict(data)


def test_locked_update_keeps_a_concurrent_writers_entry(tmp_path):
    """Two processes changing one manifest: the second waits for the first, both entries stay."""
    import subprocess
    import sys
    import time

    path = tmp_path / "manifest.json"
    first = make_entry(tmp_path, "a.pte", b"first")
    second = make_entry(tmp_path, "b.pte", b"second", model={**first.model, "name": "other"})
    (tmp_path / "second.json").write_text(json.dumps(second.to_dict()))
    started = tmp_path / "started"
    child_code = (
        "import json, pathlib, sys\n"
        "from deploy.artifacts.manifest import Manifest, ManifestEntry\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "entry = ManifestEntry.from_dict(json.loads((folder / 'second.json').read_text()))\n"
        "(folder / 'started').touch()\n"
        "with Manifest.locked(folder / 'manifest.json') as manifest:\n"
        "    manifest.upsert(entry)\n"
    )
    with Manifest.locked(path) as manifest:
        child = subprocess.Popen([sys.executable, "-c", child_code, str(tmp_path)])
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the child is now at (without a lock: past) its load
        manifest.upsert(first)
    assert child.wait(timeout=60) == 0
    assert {e.file for e in Manifest.load(path).entries} == {"a.pte", "b.pte"}


def test_locked_update_saves_nothing_when_the_block_raises(tmp_path):
    path = tmp_path / "manifest.json"
    with pytest.raises(RuntimeError), Manifest.locked(path) as manifest:
        manifest.upsert(make_entry(tmp_path))
        raise RuntimeError("interrupted")
    assert not path.exists()


def _write_document(tmp_path, change):
    """manifest.json holding one good entry, after `change(document)`; its path."""
    document = {"schema_version": 1, "artifacts": [make_entry(tmp_path).to_dict()]}
    change(document)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document))
    return path


def _entry(document):
    return document["artifacts"][0]


WRONG_DOCUMENTS = {
    "artifacts-of-ints": (
        lambda d: d.update(artifacts=[1, 2]),
        "artifacts[0] must be an object, got 1",
    ),
    "recipe-an-int": (
        lambda d: _entry(d).update(recipe=3),
        "artifacts[0].recipe must be an object, got 3",
    ),
    "missing-field": (lambda d: _entry(d).pop("file"), "artifacts[0] lacks file"),
    "valid-a-string": (
        lambda d: _entry(d).update(valid="yes"),
        'artifacts[0].valid must be true or false, got "yes"',
    ),
    "shape-of-strings": (
        lambda d: _entry(d).update(input_shape=["a"]),
        "artifacts[0].input_shape[0] must be an integer",
    ),
    "toolchain-value": (
        lambda d: _entry(d)["toolchain"].update(torch=2),
        "artifacts[0].toolchain.torch must be a string, got 2",
    ),
    "calibration-an-int": (
        lambda d: _entry(d).update(calibration=5),
        "artifacts[0].calibration must be an object or null, got 5",
    ),
    "model-without-name": (
        lambda d: _entry(d)["model"].pop("name"),
        "artifacts[0].model lacks name",
    ),
    "sha256-not-hex": (
        lambda d: _entry(d).update(sha256="../x"),
        'artifacts[0].sha256 "../x" must be 64 lowercase hex digits',
    ),
    "no-artifacts": (lambda d: d.pop("artifacts"), "artifacts must be a list, got null"),
}


@pytest.mark.parametrize("case", sorted(WRONG_DOCUMENTS))
def test_wrong_types_are_one_line_naming_file_and_field(tmp_path, case):
    change, expected = WRONG_DOCUMENTS[case]
    path = _write_document(tmp_path, change)
    with pytest.raises(ManifestError) as excinfo:
        Manifest.load(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and "re-export" in message


@pytest.mark.parametrize("top_level", [[], 3, "text", None])
def test_a_top_level_that_is_no_object_is_one_line(tmp_path, top_level):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(top_level))
    with pytest.raises(ManifestError) as excinfo:
        Manifest.load(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: the top level must be an object"), message
    assert "\n" not in message


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(ManifestEntry)])
def test_every_field_is_type_checked_on_load(tmp_path, name):
    """[[]] is the wrong kind for every field: each is refused by name, none slips through."""
    path = _write_document(tmp_path, lambda d: _entry(d).update({name: [[]]}))
    with pytest.raises(ManifestError, match=rf"artifacts\[0\]\.{name}\b"):
        Manifest.load(path)


def test_integers_are_numbers_and_unknown_fields_are_ignored(tmp_path):
    path = _write_document(tmp_path, lambda d: _entry(d).update(export_s=3, later_field=[1]))
    assert Manifest.load(path).entries[0].export_s == 3


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_the_manifest_file_mode_honours_the_umask(tmp_path, umask, mode):
    path = tmp_path / "manifest.json"
    previous = os.umask(umask)
    try:
        Manifest(path, [make_entry(tmp_path)]).save()
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode
