"""How much of an ExecuTorch program a backend took: delegated vs non-delegated operators.

A "compute op" is any call_function of the final edge graph except the delegate call itself,
tuple unpacking (getitem) and ExecuTorch's memory/alloc bookkeeping. Ops inside a delegate are
counted from the lowered module's original graph. Anything left outside runs on ExecuTorch's
portable kernels, slowly, and usually means a lowering bug; the pipeline lists them by name.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

BOOKKEEPING_PREFIXES = ("executorch.exir.memory", "memory.")


def op_name(target: Any) -> str:
    """`aten.convolution.default`-style name of an FX call target."""
    name = getattr(target, "__name__", None) or str(target)
    if hasattr(target, "_schema") or "EdgeOpOverload" in type(target).__name__:
        text = str(target).split(":")[0].removeprefix("<EdgeOpOverload").strip(" <>")
        return text or name
    return name


def _is_bookkeeping(target: Any) -> bool:
    if target is operator.getitem:
        return True
    module = getattr(target, "__module__", "") or ""
    return module.startswith("executorch.exir.memory") or op_name(target).startswith(
        BOOKKEEPING_PREFIXES
    )


def _is_delegate_call(target: Any) -> bool:
    return getattr(target, "__name__", "") == "executorch_call_delegate" or (
        "executorch_call_delegate" in str(target)
    )


def delegation_report(exported_program: Any) -> dict[str, Any]:
    """Counts of delegated and non-delegated compute ops of an edge ExportedProgram."""
    graph_module = exported_program.graph_module
    delegated: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    backends: Counter[str] = Counter()
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        if _is_delegate_call(node.target):
            lowered = getattr(graph_module, node.args[0].target)
            backends[str(getattr(lowered, "backend_id", "?"))] += 1
            inner = lowered.original_module.graph_module.graph
            for inner_node in inner.nodes:
                if inner_node.op == "call_function" and not _is_bookkeeping(inner_node.target):
                    delegated[op_name(inner_node.target)] += 1
        elif not _is_bookkeeping(node.target):
            outside[op_name(node.target)] += 1
    total = sum(delegated.values()) + sum(outside.values())
    return {
        "backends": dict(backends),
        "delegates": sum(backends.values()),
        "delegated_ops": sum(delegated.values()),
        "non_delegated_ops": sum(outside.values()),
        "coverage": (sum(delegated.values()) / total) if total else 0.0,
        "delegated": dict(sorted(delegated.items())),
        "non_delegated": dict(sorted(outside.items())),
    }
