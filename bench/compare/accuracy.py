"""Stored accuracy (`python -m bench evaluate`) as the comparison shows it beside latencies.

An `Accuracy` is one stored evaluation of an ARTIFACT (the eager model's own rows are the
reference inside it: `eager_top1`), matched to latency sessions by the artifact's sha256, never
by names. When an artifact was evaluated more than once, a table shows its latest evaluation
(`latest_by_artifact`), and says on which images (the data folder's name, the hash prefix of
the images evaluated, their count). `accuracy_from_store` is the one adapter to the store's
evaluations (`bench.store.Store.evaluations`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from bench.errors import StoreError
from bench.store import Store


@dataclass(frozen=True)
class Accuracy:
    """Top-1 / top-5 of one artifact on one labelled folder, with the eager fp32 figures."""

    artifact_sha256: str
    model: str
    recipe: str
    top1: float  # fractions in [0, 1]
    top5: float | None
    eager_top1: float | None  # the eager fp32 model on the same images
    eager_top5: float | None
    images: int
    skipped: int
    data_sha256: str
    data_folder: str
    device_id: str  # the device whose runtime ran it (this host)
    provenance: str
    runtime: str
    created_at: str
    evaluation_id: int | None = None

    @property
    def vs_eager_points(self) -> float | None:
        """Top-1 minus the eager model's, in percentage points (negative: accuracy lost)."""
        if self.eager_top1 is None:
            return None
        return 100 * (self.top1 - self.eager_top1)

    @property
    def data_name(self) -> str:
        """The data folder's last component (as stored: any OS's separators)."""
        path = PureWindowsPath(self.data_folder) if "\\" in self.data_folder else None
        name = (path or PurePosixPath(self.data_folder)).name or self.data_folder or "?"
        return " ".join(name.splitlines())  # one line in every report

    @property
    def data_label(self) -> str:
        """Which images: "digits-val (sha256 1a2b3c4d5e6f, 360 images)"."""
        return f"{self.data_name} (sha256 {self.data_sha256[:12]}, {self.images} images)"


def latest_by_artifact(found: Iterable[Accuracy]) -> dict[str, Accuracy]:
    """artifact sha256 -> its latest evaluation (by time, then id)."""
    chosen: dict[str, Accuracy] = {}
    for a in found:
        best = chosen.get(a.artifact_sha256)
        if best is None or (a.created_at, a.evaluation_id or 0) >= (
            best.created_at,
            best.evaluation_id or 0,
        ):
            chosen[a.artifact_sha256] = a
    return chosen


def accuracy_from_store(path: str | Path) -> list[Accuracy]:
    """Every stored evaluation of an artifact (eager-only rows are not: they have no artifact).
    The store is opened as `measurements_from_store` opens it; StoreError when unreadable."""
    try:
        with Store.open(path) as store:
            evaluations = store.evaluations()
    except sqlite3.Error as exc:
        raise StoreError(
            f"results store {path} is unreadable ({exc}); restore it from its .bak copy or "
            "re-run the benchmark into a new --store"
        ) from None
    return [
        Accuracy(
            artifact_sha256=ev.artifact_sha256,
            model=ev.model,
            recipe=ev.recipe,
            top1=float(ev.top1),
            top5=ev.top5,
            eager_top1=ev.reference_top1,
            eager_top5=ev.reference_top5,
            images=int(ev.images),
            skipped=int(ev.skipped),
            data_sha256=ev.data_sha256,
            data_folder=ev.data_folder,
            device_id=ev.device_id,
            provenance=str(ev.detail.get("provenance", "")),
            runtime=str(ev.detail.get("runtime", "")),
            created_at=ev.created_at,
            evaluation_id=ev.id,
        )
        for ev in evaluations
        if ev.artifact_sha256
    ]
