"""The labelled-folder reader: classes by sorted folder name, round-robin --limit, the hash of the
images evaluated, and one line for each folder it cannot use; top-k ranks with ties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.accuracy.evaluation import TopK, ranks
from bench.accuracy.folder import read_labelled_folder, selection_sha256
from bench.errors import DataFolderError


def _folder(root: Path, layout: dict[str, int]) -> Path:
    for name, count in layout.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i:02d}.png").write_bytes(f"{name}/{i}".encode())
    return root


def test_classes_are_sorted_folder_names(tmp_path):
    root = _folder(tmp_path / "d", {"b": 2, "10": 1, "2": 1, "a": 3})
    (root / ".hidden").mkdir()
    (root / "a" / ".DS_Store").write_bytes(b"x")
    (root / "a" / "nested").mkdir()
    (root / "a" / "nested" / "deep.png").write_bytes(b"deep")
    folder = read_labelled_folder(root)
    assert folder.classes == ("10", "2", "a", "b")  # sorted() of the names, as ImageFolder
    labels = {image.name: image.label for image in folder.images}
    assert labels["10/00.png"] == 0 and labels["b/01.png"] == 3
    assert labels["a/nested/deep.png"] == 2 and "a/.DS_Store" not in labels
    assert folder.files_in_folder == 8


def test_limit_takes_every_class_first(tmp_path):
    root = _folder(tmp_path / "d", {"a": 3, "b": 1, "c": 2})
    full = read_labelled_folder(root)
    assert [i.name for i in full.images] == [
        "a/00.png", "b/00.png", "c/00.png", "a/01.png", "c/01.png", "a/02.png",
    ]  # fmt: skip
    limited = read_labelled_folder(root, limit=3)
    assert [i.label for i in limited.images] == [0, 1, 2]
    assert limited.images == full.images[:3]


def test_hash_is_of_the_images_evaluated(tmp_path):
    root = _folder(tmp_path / "d", {"a": 2, "b": 2})
    folder = read_labelled_folder(root)
    digest = selection_sha256(folder.classes, folder.images)
    assert digest == selection_sha256(folder.classes, tuple(reversed(folder.images)))
    assert digest != selection_sha256(folder.classes, folder.images[:3])
    (root / "b" / "01.png").write_bytes(b"changed")
    assert digest != selection_sha256(folder.classes, folder.images)
    (root / "b" / "01.png").write_bytes(b"b/1")
    assert digest == selection_sha256(folder.classes, folder.images)
    (root / "b").rename(root / "c")  # a class renamed: other labels
    moved = read_labelled_folder(root)
    assert digest != selection_sha256(moved.classes, moved.images)


def _missing(root: Path) -> Path:
    return root


def _empty(root: Path) -> Path:
    root.mkdir()
    return root


def _loose_files(root: Path) -> Path:
    root.mkdir()
    (root / "a.png").write_bytes(b"x")
    return root


def _empty_classes(root: Path) -> Path:
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_missing, "does not exist; pass --data with DIR/<class>/<image>"),
        (_empty, "is empty; lay it out as DIR/<class>/<image>"),
        (_loose_files, "holds 1 files but no class subfolders"),
        (_empty_classes, "has 2 class subfolders but no files in them"),
    ],
)
def test_unusable_folders_are_one_line(tmp_path, make, fragment):
    with pytest.raises(DataFolderError) as caught:
        read_labelled_folder(make(tmp_path / "data"))
    message = str(caught.value)
    assert fragment in message and "\n" not in message


def test_limit_below_one_is_refused(tmp_path):
    with pytest.raises(DataFolderError, match="--limit 0"):
        read_labelled_folder(_folder(tmp_path / "d", {"a": 1}), limit=0)


def test_ranks_break_ties_toward_the_lower_class_like_argmax():
    rng = np.random.default_rng(0)
    logits = rng.integers(0, 4, size=(200, 7)).astype(np.float32)  # many ties, as int8 gives
    labels = rng.integers(0, 7, size=200)
    rank = ranks(logits, labels)
    assert np.array_equal(rank == 0, logits.argmax(axis=1) == labels)
    order = np.argsort(-logits, axis=1, kind="stable")
    assert np.array_equal(rank, np.argmax(order == labels[:, None], axis=1))
    counts = TopK()
    counts.add(logits, labels)
    assert counts.top1 == int((rank == 0).sum()) and counts.top5 == int((rank < 5).sum())
    assert counts.fraction(1) == counts.top1 / 200
