"""A labelled image folder: one subfolder per class, class index = sorted folder name.

This is the ImageNet-val / torchvision `ImageFolder` convention: `DIR/<class>/<image>`, the
classes are the subfolders (hidden ones left out) in `sorted()` order of their names, and class
`i` is the model's output `i`. The files of a class folder are read recursively (symbolic links
to folders are not followed), in name order; hidden files are left out. Which files are images
is found by decoding them (`bench.accuracy.evaluation`): a file that does not decode is skipped
and counted, never guessed from its extension.

`--limit N` takes the first N images in ROUND-ROBIN order over the classes (the first image of
every class, then the second, ...), so a limited run still covers every class; the full order
is the same, so a limited run is a prefix of the full one.

`selection_sha256` identifies the images evaluated: the class names, then, in name order, every
selected file's relative name and the sha256 of its content. Without a limit it is the hash of
the whole folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import DataFolderError

LAYOUT = (
    "DIR/<class>/<image>, one subfolder per class (the ImageNet-val / torchvision ImageFolder "
    "layout)"
)


@dataclass(frozen=True)
class LabelledImage:
    """One file of the folder and its class index."""

    path: Path
    name: str  # relative to the folder, with "/" separators
    label: int


@dataclass(frozen=True)
class LabelledFolder:
    """The classes of a labelled folder and the images selected for evaluation, in order."""

    root: Path
    classes: tuple[str, ...]
    images: tuple[LabelledImage, ...]  # the selection, round-robin over the classes
    files_in_folder: int
    limit: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """One line: where, how many classes and images, and what was selected."""
        chosen = (
            f"first {len(self.images)} of {self.files_in_folder} files (round-robin over the "
            "classes)"
            if len(self.images) < self.files_in_folder
            else f"{self.files_in_folder} files"
        )
        return f"{self.root}: {self.num_classes} classes, {chosen}"


def _class_files(folder: Path, root: Path) -> list[tuple[Path, str]]:
    """(path, name relative to root) of every non-hidden file under `folder`, in name order."""
    found = []
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            path = Path(current) / name
            if path.is_file():
                found.append((path, path.relative_to(root).as_posix()))
    return sorted(found, key=lambda item: item[1])


def read_labelled_folder(root: Path | str, limit: int | None = None) -> LabelledFolder:
    """The folder's classes and its images (the first `limit`, round-robin over the classes).

    A missing folder, one without class subfolders and one whose class folders hold no file are
    each one DataFolderError line naming the layout expected.
    """
    root = Path(root).expanduser()
    if limit is not None and limit < 1:
        raise DataFolderError(f"--limit {limit}: give at least 1 image (or leave it out)")
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataFolderError(f"data folder {root} {what}; pass --data with {LAYOUT}")
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise DataFolderError(
            f"data folder {root} cannot be read ({exc.strerror}); pass --data with a folder "
            "you may read"
        ) from None
    classes = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    if not classes:
        loose = sum(1 for p in entries if p.is_file() and not p.name.startswith("."))
        held = f"holds {loose} files but no class subfolders" if loose else "is empty"
        raise DataFolderError(f"data folder {root} {held}; lay it out as {LAYOUT}")
    per_class = [
        [LabelledImage(path, name, label) for path, name in _class_files(folder, root)]
        for label, folder in enumerate(classes)
    ]
    total = sum(len(files) for files in per_class)
    if total == 0:
        raise DataFolderError(
            f"data folder {root} has {len(classes)} class subfolders but no files in them; "
            f"put the images in them ({LAYOUT})"
        )
    ordered = _round_robin(per_class)
    return LabelledFolder(
        root=root,
        classes=tuple(p.name for p in classes),
        images=tuple(ordered[:limit] if limit is not None else ordered),
        files_in_folder=total,
        limit=limit,
    )


def _round_robin(per_class: Sequence[Sequence[LabelledImage]]) -> list[LabelledImage]:
    """The first image of every class, then the second, ...: a prefix covers every class."""
    longest = max(len(files) for files in per_class)
    return [files[i] for i in range(longest) for files in per_class if i < len(files)]


def selection_sha256(
    classes: Sequence[str],
    images: Sequence[LabelledImage],
    advance: Callable[[int], None] | None = None,
) -> str:
    """sha256 of the class names and of every image's relative name and content (name order)."""
    digest = hashlib.sha256()
    for name in classes:
        digest.update(b"class\0" + name.encode("utf-8", "surrogateescape") + b"\0")
    for image in sorted(images, key=lambda i: i.name):
        content = hashlib.sha256()
        try:
            with image.path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    content.update(block)
        except OSError:  # unreadable: skipped by the evaluation, and hashed as such
            content = hashlib.sha256(b"unreadable")
        digest.update(b"file\0" + image.name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(content.digest())
        if advance is not None:
            advance(1)
    return digest.hexdigest()
