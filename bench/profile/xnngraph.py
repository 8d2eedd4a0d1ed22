"""The XNNPACK graph inside a .pte: what the lowering made of the model, node by node.

The .pte holds each XNNPACK delegate's payload (a header and a flatbuffer, `XH00`); its nodes
carry the lowering's debug handle and the full geometry of every convolution and fully connected
layer (kernel, stride, groups, channels, and the output tensor's dimensions), so the multiply-adds
of each layer follow from the program itself, never from a file name. Decoding uses the flatc
binary and the runtime schema shipped in the executorch wheel.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench.errors import BenchError

#: an XNNPACK node's type -> the op kind a layer row names
CONV_KINDS = {"XNNConv2d": "conv", "XNNDepthwiseConv2d": "dwconv", "XNNFullyConnected": "linear"}
HEADER_MAGIC = b"XH00"


class ProgramGraphError(BenchError):
    """The .pte holds no XNNPACK graph we can read."""


@dataclass(frozen=True)
class XnnNode:
    """One node of an XNNPACK graph, in definition order."""

    index: int  # over every XNNPACK delegate of the program, in order
    kind: str  # the flatbuffer union type, e.g. XNNConv2d
    debug_handle: int
    delegate: int  # which XNNPACK delegate of the program
    op: str  # conv | dwconv | linear | the lowercase kind without XNN (add, hardswish, ...)
    kernel: int | None = None
    stride: int | None = None
    groups: int | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    madds: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_layer(self) -> bool:
        """A convolution or fully connected layer (what the papers count MAdds of)."""
        return self.op in ("conv", "dwconv", "linear")

    def describe(self) -> str:
        """A short name from the geometry, e.g. `dwconv 3x3/2 96` or `conv 1x1 16->96`."""
        if self.op == "linear":
            return f"linear {self.in_channels}->{self.out_channels}"
        if self.op in ("conv", "dwconv"):
            stride = f"/{self.stride}" if self.stride and self.stride > 1 else ""
            shape = f"{self.kernel}x{self.kernel}{stride}"
            if self.op == "dwconv":
                return f"dwconv {shape} {self.out_channels}"
            return f"conv {shape} {self.in_channels}->{self.out_channels}"
        return self.op


def _payloads(pte: bytes) -> list[bytes]:
    """Every XNNPACK delegate payload of the program, in the order of its execution plan."""
    from executorch.exir._serialize._program import _extract_delegate_payload

    found = []
    for index in range(1024):
        payload = _extract_delegate_payload(pte, "xnnpack", index)
        if payload is None:
            break
        found.append(payload)
    return found


def _flatbuffer(payload: bytes) -> bytes:
    if payload[4:8] != HEADER_MAGIC:
        return payload  # an old payload without the header: the flatbuffer itself
    offset, size = struct.unpack("<II", payload[10:18])
    return payload[offset : offset + size]


_NON_FINITE = re.compile(r"(?<![\w.\"])-?(inf|infinity|nan)(?![\w\"])", re.I)


def _decode(flatbuffer: bytes) -> dict[str, Any]:
    """The XNNGraph table as JSON, via the wheel's flatc and runtime schema."""
    import executorch.backends.xnnpack.serialization as serialization
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    schema = Path(next(iter(serialization.__path__))) / "runtime_schema.fbs"
    with tempfile.TemporaryDirectory(prefix="bench-xnngraph-") as tmp:
        shutil.copy(schema, Path(tmp) / "schema.fbs")
        (Path(tmp) / "graph.bin").write_bytes(flatbuffer)
        _flatc_decompile(
            tmp, str(Path(tmp) / "schema.fbs"), str(Path(tmp) / "graph.bin"), ["--raw-binary"]
        )
        text = (Path(tmp) / "graph.json").read_text()
    # flatc writes inf/nan for unbounded clamps; JSON has no such literal (the value is unused)
    return dict(json.loads(_NON_FINITE.sub("null", text)))


def _dims(values: dict[int, dict[str, Any]], value_id: int) -> list[int]:
    return list(values.get(value_id, {}).get("dims") or [])


def _prod(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _node(
    index: int, delegate: int, raw: dict[str, Any], values: dict[int, dict[str, Any]]
) -> XnnNode:
    kind = str(raw.get("xnode_union_type", ""))
    body = raw.get("xnode_union") or {}
    handle = int(raw.get("debug_handle", -1))
    if kind in ("XNNConv2d", "XNNDepthwiseConv2d"):
        out = _dims(values, body["output_id"])  # NHWC
        groups = int(body["groups"])
        cin, cout = int(body["group_input_channels"]), int(body["group_output_channels"])
        kh, kw = int(body["kernel_height"]), int(body["kernel_width"])
        sh, sw = int(body["subsampling_height"]), int(body["subsampling_width"])
        depthwise = kind == "XNNDepthwiseConv2d" or (groups > 1 and cin == 1)
        madds = _prod(out[:-1]) * out[-1] * kh * kw * cin if len(out) == 4 else None
        return XnnNode(
            index,
            kind,
            handle,
            delegate,
            "dwconv" if depthwise else "conv",
            kernel=kh if kh == kw else max(kh, kw),
            stride=sh if sh == sw else max(sh, sw),
            groups=groups,
            in_channels=cin * groups,
            out_channels=cout * groups,
            madds=madds,
            detail={"kernel_hw": [kh, kw], "stride_hw": [sh, sw], "output_nhwc": out},
        )
    if kind == "XNNFullyConnected":
        weight = _dims(values, body["filter_id"])  # [out, in]
        out = _dims(values, body["output_id"])
        rows_out = weight[0] if len(weight) >= 2 else None
        cols_in = weight[1] if len(weight) >= 2 else None
        madds = _prod(out) * cols_in if out and cols_in else None
        return XnnNode(
            index,
            kind,
            handle,
            delegate,
            "linear",
            kernel=1,
            stride=1,
            groups=1,
            in_channels=cols_in,
            out_channels=rows_out,
            madds=madds,
            detail={"output_shape": out},
        )
    op = re.sub(r"^XNN", "", kind).lower()
    return XnnNode(index, kind, handle, delegate, op)


def read_graph(pte: Path) -> list[XnnNode]:
    """Every node of every XNNPACK delegate in the .pte at `pte`, in definition order."""
    return list(_read_graph_cached(str(Path(pte).resolve()), Path(pte).stat().st_mtime_ns))


@lru_cache(maxsize=32)
def _read_graph_cached(path: str, _mtime_ns: int) -> tuple[XnnNode, ...]:
    try:
        data = Path(path).read_bytes()
        payloads = _payloads(data)
    except OSError as exc:
        raise ProgramGraphError(f"cannot read {path}: {exc.strerror}") from None
    except Exception as exc:  # a file that is no ExecuTorch program
        raise ProgramGraphError(
            f"{Path(path).name} is not a readable ExecuTorch program ({type(exc).__name__}); "
            "re-export it"
        ) from None
    if not payloads:
        raise ProgramGraphError(
            f"{Path(path).name} has no XNNPACK delegate: per-layer profiles need an XNNPACK "
            "recipe (xnnpack-fp32, xnnpack-int8)"
        )
    nodes: list[XnnNode] = []
    for delegate, payload in enumerate(payloads):
        graph = _decode(_flatbuffer(payload))
        values = {}
        for value in graph.get("xvalues", []):
            body = value.get("xvalue_union") or {}
            body = body.get("tensor_value", body)  # quantized values wrap a tensor value
            if "id_out" in body:
                values[int(body["id_out"])] = body
        for raw in graph.get("xnodes", []):
            nodes.append(_node(len(nodes), delegate, raw, values))
    return tuple(nodes)
