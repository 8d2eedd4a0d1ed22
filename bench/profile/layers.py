"""Map an ETDump's XNNPACK operator events back to the program's layers.

XNNPACK names its operators (`Convolution (NHWC, F32) IGEMM #3`, `Fully Connected (NC, QD8,
F32, QC8W) GEMM #7`) and runs them in the order of its graph's nodes; a node may leave no
operator (a clamp fused into the convolution before it) and a 1x1 convolution may run as a fully
connected operator. The events are aligned with the graph's nodes (`bench.profile.xnngraph`) by
kind, in order, and every convolution and fully connected event must land on a convolution or
fully connected node: then each row carries the node's geometry (kernel, stride, groups,
channels, MAdds) and debug handle. A program whose events do not align is refused, not guessed.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.errors import BenchError
from bench.profile.etdump import Dump, OpEvent
from bench.profile.xnngraph import XnnNode
from bench.store import LayerRecord

LAYER = "layer"  # the alignment key of a convolution or fully connected node / event
EVENT_KEYS = {
    "convolution": LAYER,
    "fullyconnected": LAYER,
    "deconvolution": LAYER,
    "copy": "staticreshape",
    "reshape": "staticreshape",
    "staticreshape": "staticreshape",
    "globalaveragepooling": "mean",
}
NODE_KEYS = {
    "div": "divide",
    "globalavgpooling2d": "mean",
    "staticmeannd": "mean",
    "statictranspose": "transpose",
    "staticconstantpad": "constantpad",
    "maxpooling2d": "maxpooling",
    "avgpooling2d": "averagepooling",
    "staticslice": "slice",
    "sub": "subtract",
}
#: rows that are no operator: time inside the delegate between its operators, and outside it
DELEGATE_ROW = "(XNNPACK delegate, between operators)"
OUTSIDE_ROW = "(outside the delegate)"
OVERHEAD = "overhead"


class LayerMappingError(BenchError):
    """The ETDump's operators do not match the program's XNNPACK graph."""


def event_kind(name: str) -> str:
    """`Convolution (NHWC, F32) IGEMM #3` -> `convolution`; `Static Reshape (NC) #1` ->
    `staticreshape`."""
    base = re.sub(r"\s*#\d+$", "", name).split("(")[0]
    return re.sub(r"[^a-z0-9]", "", base.lower())


def event_key(name: str) -> str:
    kind = event_kind(name)
    return EVENT_KEYS.get(kind, kind)


#: XNNPACK 1.x names some int8 unary operators (hardswish) `Invalid Unary Op`
UNNAMED_UNARY = "invalidunaryop"
UNARY = {
    "hardswish",
    "sigmoid",
    "tanh",
    "abs",
    "negate",
    "square",
    "squareroot",
    "elu",
    "leakyrelu",
    "gelu",
    "exp",
    "log",
    "floor",
    "ceiling",
    "bankersrounding",
}


def _same(node: str, event: str) -> bool:
    return node == event or (event == UNNAMED_UNARY and node in UNARY)


def node_key(node: XnnNode) -> str:
    return LAYER if node.is_layer else NODE_KEYS.get(node.op, node.op)


def align(nodes: Sequence[XnnNode], events: Sequence[OpEvent]) -> list[XnnNode | None]:
    """For each delegated event, its node (None when XNNPACK added an operator of its own).

    A global alignment in order: an event and a node match when their kinds agree; a node may
    be left without an event (fused) and an event without a node, at a cost, except that a
    layer on either side must match a layer (else LayerMappingError).
    """
    big = 10_000
    n, m = len(nodes), len(events)
    nk = [node_key(x) for x in nodes]
    ek = [event_key(e.name) for e in events]
    skip_node = [big if k == LAYER else 1 for k in nk]
    skip_event = [big if k == LAYER else 1 for k in ek]
    # cost[i][j]: nodes[i:] against events[j:]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        cost[i][m] = cost[i + 1][m] + skip_node[i]
    for j in range(m - 1, -1, -1):
        cost[n][j] = cost[n][j + 1] + skip_event[j]
    for i in range(n - 1, -1, -1):
        row, below = cost[i], cost[i + 1]
        for j in range(m - 1, -1, -1):
            best = min(below[j] + skip_node[i], row[j + 1] + skip_event[j])
            if _same(nk[i], ek[j]):
                best = min(best, below[j + 1])
            row[j] = best
    if cost[0][0] >= big:
        layers_n = sum(1 for k in nk if k == LAYER)
        layers_e = sum(1 for k in ek if k == LAYER)
        raise LayerMappingError(
            f"the ETDump's operators do not match the program: {layers_e} convolution/fully "
            f"connected operators ran, the program's XNNPACK graph has {layers_n}; was the "
            "ETDump made from this .pte?"
        )
    out: list[XnnNode | None] = []
    i = j = 0
    while j < m:
        if i < n and _same(nk[i], ek[j]) and cost[i][j] == cost[i + 1][j + 1]:
            out.append(nodes[i])
            i, j = i + 1, j + 1
        elif i < n and cost[i][j] == cost[i + 1][j] + skip_node[i]:
            i += 1
        else:
            out.append(None)
            j += 1
    return out


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


@dataclass(frozen=True)
class MappedProfile:
    """The rows of one profiled program and its per-iteration totals (median, ms)."""

    layers: tuple[LayerRecord, ...]
    execute_ms: float  # Method::execute
    delegate_ms: float  # the delegate calls
    ops_ms: float  # the operators' row times, summed
    iterations: int

    @property
    def outside_fraction(self) -> float:
        """Of Method::execute, the part spent outside the delegate calls."""
        outside = next((r.time_ms for r in self.layers if r.name == OUTSIDE_ROW), 0.0)
        return outside / self.execute_ms if self.execute_ms else 0.0


def map_layers(nodes: Sequence[XnnNode], dump: Dump) -> MappedProfile:
    """One LayerRecord per operator event (geometry from its node), then the delegate's time
    between operators and the time outside the delegate (op `overhead`)."""
    delegated = [e for e in dump.ops if e.delegated]
    matched = align(nodes, delegated)
    found = dict(zip((id(e) for e in delegated), matched, strict=True))
    rows: list[LayerRecord] = []
    for event in dump.ops:
        node = found.get(id(event))
        detail: dict[str, object] = {"event": event.name}
        if node is not None:
            detail.update(node.detail, debug_handle=node.debug_handle, node=node.index)
            if node.delegate:
                detail["delegate"] = node.delegate
        base = re.sub(r"\s*#\d+$", "", event.name)
        name = node.describe() if node is not None and node.is_layer else base
        op = node.op if node is not None else event_kind(event.name) or "other"
        if node is not None and not node.is_layer:
            detail["node_kind"] = node.kind
        rows.append(
            LayerRecord(
                idx=len(rows),
                name=name,
                op=op,
                time_ms=_median(event.samples_ms),
                kernel=node.kernel if node else None,
                stride=node.stride if node else None,
                groups=node.groups if node else None,
                in_channels=node.in_channels if node else None,
                out_channels=node.out_channels if node else None,
                madds=node.madds if node else None,
                delegated=event.delegated,
                detail=detail,
            )
        )
    n = dump.iterations
    inside = [sum(e.samples_ms[i] for e in delegated) for i in range(n)]
    portable = [sum(e.samples_ms[i] for e in dump.ops if not e.delegated) for i in range(n)]
    between = [max(0.0, dump.delegate_ms[i] - inside[i]) for i in range(n)]
    outside = [max(0.0, dump.execute_ms[i] - dump.delegate_ms[i] - portable[i]) for i in range(n)]
    for name, values, in_delegate in ((DELEGATE_ROW, between, True), (OUTSIDE_ROW, outside, False)):
        rows.append(
            LayerRecord(
                idx=len(rows),
                name=name,
                op=OVERHEAD,
                time_ms=_median(values),
                delegated=in_delegate,
                detail={
                    "what": "ETDump: delegate call minus its operators"
                    if in_delegate
                    else "ETDump: Method::execute minus the delegate calls "
                    "and the non-delegated operators"
                },
            )
        )
    return MappedProfile(
        tuple(rows),
        execute_ms=_median(dump.execute_ms),
        delegate_ms=_median(dump.delegate_ms),
        ops_ms=sum(r.time_ms for r in rows if r.op != OVERHEAD),
        iterations=n,
    )
