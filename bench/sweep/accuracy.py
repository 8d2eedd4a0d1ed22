"""The top-1 a sweep point is placed at, and what that figure is.

Two kinds, never mixed unmarked:

- MEASURED: `nox -s evaluate` stored a top-1 for this very artifact (its sha256) on the user's
  labelled folder; it replaces the papers' figure and names the folder, its hash and the count.
- PAPER: the papers' ImageNet top-1 of their own trained weights (`deploy.models.paper.top1`)
  for the model at the recipe's precision. One frontier compares like with like: when some of
  its models have no published figure at the recipe's precision (int8: only the V3 paper's
  Table 4 gives four), every model of it takes its float figure, marked `fp32 figure`, and the
  int8 figures that were set aside are named (`Accuracy.set_aside`).

An artifact exported with random weights has none of the papers' accuracy: the papers' figure
says where the model would land once trained as they did, not what the file computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bench.store import Store
from deploy.models import paper

MEASURED = "measured"
PAPER = "paper"
PAPER_NOTE = "ImageNet top-1 of the papers' trained weights"


@dataclass(frozen=True)
class Accuracy:
    """A top-1 (percent) and where it comes from."""

    top1: float
    kind: str  # MEASURED | PAPER
    source: str  # the paper's source key, or the data folder
    precision: str  # the precision the figure was published or measured at
    data_sha256: str = ""  # MEASURED: the labelled folder's hash
    images: int = 0  # MEASURED: how many images
    stand_in: bool = False  # PAPER: the fp32 figure standing in for the recipe's precision
    set_aside: float | None = None  # PAPER, stand_in: the recipe-precision figure not used

    @property
    def marker(self) -> str:
        """How a table marks the figure: `measured`, `paper` or `paper, fp32 figure`."""
        if self.kind == MEASURED:
            return MEASURED
        return f"{PAPER}, fp32 figure" if self.stand_in else PAPER

    def describe(self) -> str:
        """One line: what the figure is and where it comes from."""
        if self.kind == MEASURED:
            return (
                f"measured top-1 on {self.source} ({self.images} images, data sha256 "
                f"{self.data_sha256[:12]})"
            )
        what = f"{PAPER_NOTE} ({paper.SOURCES.get(self.source, self.source)})"
        if self.stand_in and self.set_aside is not None:
            what += f"; the fp32 figure, like every model beside it (published: {self.set_aside})"
        elif self.stand_in:
            what += "; no figure is published at this precision: the fp32 one"
        return what


def paper_accuracy(model: str, precision: str) -> Accuracy | None:
    """The papers' top-1 of `model` at `precision`, else their fp32 figure marked as a stand-in;
    None when no table gives a top-1 for the model."""
    found = paper.top1(model, precision)
    if found is not None:
        return Accuracy(found.top1, PAPER, found.source, found.precision)
    if precision != "fp32" and (fp32 := paper.top1(model, "fp32")) is not None:
        return Accuracy(fp32.top1, PAPER, fp32.source, "fp32", stand_in=True)
    return None


def paper_accuracies(models: Iterable[str], precision: str) -> dict[str, Accuracy]:
    """The papers' top-1 of each model on ONE basis: at `precision` when every model with a
    figure has one there, else the fp32 figure for all (the set-aside figure kept)."""
    found = {m: a for m in models if (a := paper_accuracy(m, precision)) is not None}
    if not any(a.stand_in for a in found.values()):
        return found
    uniform = {}
    for model, accuracy in found.items():
        if accuracy.stand_in:
            uniform[model] = accuracy
            continue
        fp32 = paper.top1(model, "fp32")
        if fp32 is None:  # a figure at this precision only: nothing to put beside the others
            continue
        uniform[model] = Accuracy(
            fp32.top1, PAPER, fp32.source, "fp32", stand_in=True, set_aside=accuracy.top1
        )
    return uniform


def measured_accuracy(store: Store, artifact_sha256: str) -> Accuracy | None:
    """The latest stored evaluation of this artifact (`nox -s evaluate`), or None."""
    if not artifact_sha256:
        return None
    found = store.evaluations(artifact_sha256=artifact_sha256)
    if not found:
        return None
    latest = found[-1]
    return Accuracy(
        top1=100.0 * latest.top1,
        kind=MEASURED,
        source=latest.data_folder or "an unnamed folder",
        precision="",
        data_sha256=latest.data_sha256,
        images=latest.images,
    )


def accuracies(
    store: Store | None, models: Iterable[str], precision: str, shas: Mapping[str, str]
) -> dict[str, Accuracy]:
    """model -> the top-1 it is placed at: measured for its artifact (`shas`: model -> sha256)
    where the store has one, else the papers' on one basis (`paper_accuracies`)."""
    names = list(models)
    out = paper_accuracies(names, precision)
    if store is not None:
        for model in names:
            if measured := measured_accuracy(store, shas.get(model, "")):
                out[model] = measured
    return out
