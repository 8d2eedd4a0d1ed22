"""An entry's `file` never leads outside the manifest's folder: not on load, read or removal.

Each probe plants a crafted entry in `artifacts/manifest.json` beside victims outside the
folder, and checks that the victims are untouched and the error is one line naming the entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import options
from deploy.artifacts.hashing import sha256_file
from deploy.artifacts.manifest import MANIFEST_NAME, Manifest, ManifestEntry, verify_artifact
from deploy.errors import ArtifactIntegrityError, DeployError, ManifestError
from deploy.export import pipeline
from deploy.export.recipes import get_recipe
from deploy.models import parse_model_name
from tests.export.helpers import make_entry

# the slot the probes share with a real export: the export replaces the crafted entry
MODEL = "mobilenet_v1_0.25_96"
RECIPE = "xnnpack-fp32"


@dataclass(frozen=True)
class Site:
    """artifacts/ and, beside it, what a crafted entry must not touch."""

    out: Path
    victim_dir: Path  # holds precious.txt
    victim_file: Path
    secret: Path  # a .pte outside artifacts/

    def entry(self, file: str, data: bytes = b"program", **changes) -> ManifestEntry:
        """An entry in the export's slot, with a stale cache key, naming `file`."""
        spec = parse_model_name(MODEL)
        model = {"name": spec.name, "family": spec.family, "width": spec.width}
        fields = {
            "model": {**model, "resolution": spec.resolution},
            "recipe": get_recipe(RECIPE).as_dict(),
            "input_shape": list(spec.input_shape),
            "cache_key": "stale" * 8,
            "file": file,
        }
        return make_entry(self.out.parent / "scratch", "x.pte", data, **{**fields, **changes})

    def write_manifest(self, *entries: ManifestEntry) -> Path:
        """The manifest holding `entries`, written as JSON (no check on the way)."""
        path = self.out / MANIFEST_NAME
        document = {"schema_version": 1, "artifacts": [e.to_dict() for e in entries]}
        path.write_text(json.dumps(document))
        return path

    def untouched(self) -> bool:
        return (
            (self.victim_dir / "precious.txt").read_text() == "precious"
            and self.victim_file.read_text() == "victim"
            and self.secret.read_bytes() == b"secret"
        )


@pytest.fixture
def site(tmp_path) -> Site:
    out = tmp_path / "artifacts"
    out.mkdir()
    (tmp_path / "scratch").mkdir()
    victim_dir = tmp_path / "victim_dir"
    victim_dir.mkdir()
    (victim_dir / "precious.txt").write_text("precious")
    (tmp_path / "victim.txt").write_text("victim")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.pte").write_bytes(b"secret")
    return Site(out, victim_dir, tmp_path / "victim.txt", tmp_path / "outside" / "secret.pte")


def one_line(exc: pytest.ExceptionInfo[DeployError], *parts: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message
    return message


def outside_file(site: Site, kind: str) -> str:
    return {"dotdot": "../victim_dir", "absolute": str(site.victim_file)}[kind]


# -- load: a file that is not a relative path inside the folder is refused ---------------------


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_loading_an_entry_whose_file_is_outside_is_refused(site, kind):
    file = outside_file(site, kind)
    path = site.write_manifest(site.entry(file))
    with pytest.raises(ManifestError) as exc:
        Manifest.load(path)
    one_line(exc, str(path), "artifacts[0].file", json.dumps(file), MODEL, RECIPE, "delete this")


@pytest.mark.parametrize("file", ["", ".", "a/../../x", "a/..", "/etc/passwd"])
def test_paths_that_are_not_inside_are_refused(site, file):
    with pytest.raises(ManifestError, match="relative path inside"):
        Manifest.load(site.write_manifest(site.entry(file)))


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_export_over_such_a_manifest_stops_before_anything_is_deleted(site, kind):
    """Before the fix, this export replaced the entry and deleted its file: the victim."""
    site.write_manifest(site.entry(outside_file(site, kind)))
    with pytest.raises(ManifestError) as exc:
        pipeline.export_many([parse_model_name(MODEL)], [get_recipe(RECIPE)], site.out)
    one_line(exc, "artifacts[0].file", "delete this entry")
    assert site.untouched()
    assert sorted(p.name for p in site.out.iterdir() if not p.name.startswith(".")) == [
        MANIFEST_NAME
    ]


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_path_of_refuses_an_entry_made_in_code(site, kind):
    """Entries that never went through load (made in code) are checked by path_of too."""
    manifest = Manifest(site.out / MANIFEST_NAME, [site.entry(outside_file(site, kind))])
    with pytest.raises(ManifestError) as exc:
        manifest.path_of(manifest.entries[0])
    one_line(exc, MODEL, "relative path inside")
    with pytest.raises(ManifestError):
        manifest.remove_file(manifest.entries[0])
    assert site.untouched()


# -- read: a symbolic link inside the folder that leads out is never followed -----------------


def test_a_link_to_a_file_outside_is_not_read_by_the_export_or_the_benchmarks(site):
    (site.out / "a.pte").symlink_to(site.secret)
    entry = site.entry("a.pte", b"secret")  # its sha256 is the outside file's
    assert entry.sha256 == sha256_file(site.secret)
    manifest = Manifest.load(site.write_manifest(entry))
    with pytest.raises(ArtifactIntegrityError) as exc:
        manifest.path_of(entry)
    one_line(exc, MODEL, '"a.pte"', "symbolic link", "delete the link")
    with pytest.raises(ArtifactIntegrityError):
        verify_artifact(manifest, entry)
    assert pipeline.find_cached(manifest, entry.cache_key) is None
    # bench-host, bench-android, bench-ios and bench-peers select through the manifest's path_of
    with pytest.raises(ArtifactIntegrityError):
        options.manifest_artifacts(manifest.path)


def test_a_link_to_a_folder_outside_is_not_read(site):
    (site.out / "sub").symlink_to(site.secret.parent)
    manifest = Manifest.load(site.write_manifest(site.entry("sub/secret.pte", b"secret")))
    with pytest.raises(ArtifactIntegrityError):
        manifest.path_of(manifest.entries[0])


# -- removal: never outside the folder; a link is deleted itself --------------------------------


def test_removal_under_a_linked_folder_is_refused(site):
    (site.out / "link").symlink_to(site.victim_dir)
    manifest = Manifest.load(site.write_manifest(site.entry("link/precious.txt")))
    with pytest.raises(ArtifactIntegrityError) as exc:
        manifest.remove_file(manifest.entries[0])
    one_line(exc, '"link/precious.txt"', "not deleted", "delete the link")
    assert site.untouched() and (site.out / "link").is_symlink()


@pytest.mark.parametrize("target", ["victim_dir", "victim_file"])
def test_removing_a_link_deletes_the_link_not_its_target(site, target):
    (site.out / "link").symlink_to(getattr(site, target))
    manifest = Manifest.load(site.write_manifest(site.entry("link")))
    manifest.remove_file(manifest.entries[0])
    assert not (site.out / "link").is_symlink()
    assert site.untouched()


def test_removal_inside_the_folder_deletes_files_and_folders_no_entry_still_names(site):
    (site.out / "old.mlpackage" / "Data").mkdir(parents=True)
    (site.out / "old.mlpackage" / "Data" / "weights.bin").write_bytes(b"w")
    (site.out / "old.pte").write_bytes(b"old")
    (site.out / "kept.pte").write_bytes(b"kept")
    replaced = [site.entry("old.mlpackage"), site.entry("old.pte"), site.entry("./kept.pte")]
    manifest = Manifest(site.out / MANIFEST_NAME, [site.entry("kept.pte")])
    manifest.remove_unused_files(replaced)
    assert sorted(p.name for p in site.out.iterdir()) == ["kept.pte"]


def test_export_replacing_an_entry_under_a_linked_folder_deletes_nothing_outside(site):
    """A real export of the entry's slot: before the fix it deleted victim_dir/precious.txt."""
    (site.out / "link").symlink_to(site.victim_dir)
    path = site.write_manifest(site.entry("link/precious.txt"))
    before = path.read_text()
    with pytest.raises(ArtifactIntegrityError) as exc:
        pipeline.export_many([parse_model_name(MODEL)], [get_recipe(RECIPE)], site.out)
    one_line(exc, '"link/precious.txt"', MODEL, "delete the link")
    assert site.untouched() and (site.out / "link").is_symlink()
    assert path.read_text() == before  # nothing saved: the refusal came before


def test_a_folder_artifact_holding_a_link_is_not_hashed_through_it(tmp_path):
    """A .mlpackage with a link inside would hash (and stage for iOS) a file from outside."""
    from deploy.artifacts.hashing import sha256_path

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"outside")
    package = tmp_path / "artifacts" / "m.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Data" / "weights.bin").write_bytes(b"inside")
    sha256_path(package)  # no link: hashed
    (package / "Data" / "stolen.bin").symlink_to(secret)
    with pytest.raises(ArtifactIntegrityError, match=r"symbolic link \(Data/stolen.bin\)"):
        sha256_path(package)
