"""Read an ETDump (bench_runner --etdump) with ExecuTorch's devtools Inspector.

A profiling round runs 1 first inference, `warmup` iterations, the measured iterations and one
last inference (the runner's output check); every `forward` leaves one sample per event. The
first `skip` samples (first inference + warmup) are dropped, so what remains is warm.

XNNPACK reports each operator's time in whole microseconds (its profiling API), so an operator
under 1 us reads 0 and the operators' sum falls a little short of the delegate call's time; that
difference is kept (as the delegate's own row), never spread over the layers.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError

EXECUTE = "Method::execute"
DELEGATE_CALL = "DELEGATE_CALL"


class EtdumpError(BenchError):
    """An ETDump that cannot be read or holds no profiled execution."""


@dataclass(frozen=True)
class OpEvent:
    """One operator event of the Execute block: its name and one time per kept iteration."""

    name: str
    delegated: bool
    samples_ms: tuple[float, ...]


@dataclass
class Dump:
    """The kept iterations of one ETDump: per-operator times and the per-iteration totals."""

    ops: list[OpEvent] = field(default_factory=list)
    execute_ms: list[float] = field(default_factory=list)  # Method::execute per iteration
    delegate_ms: list[float] = field(default_factory=list)  # every DELEGATE_CALL, summed
    skipped: int = 0

    @property
    def iterations(self) -> int:
        return len(self.execute_ms)


def read_etdump(path: Path, skip: int = 0) -> Dump:
    """The Execute block of the ETDump at `path`, its first `skip` iterations dropped."""
    from executorch.devtools import Inspector

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(path))
    except Exception as exc:  # the devtools raise many types on a damaged file
        raise EtdumpError(
            f"cannot read the ETDump {Path(path).name} ({type(exc).__name__}: "
            f"{str(exc)[:120]}); profile again"
        ) from None
    block = next((b for b in inspector.event_blocks if b.name == "Execute"), None)
    if block is None:
        raise EtdumpError(f"the ETDump {Path(path).name} has no Execute block; profile again")
    dump = Dump(skipped=skip)
    delegate_calls: list[list[float]] = []
    for event in block.events:
        perf = event.perf_data
        if perf is None:
            continue
        raw = [float(v) for v in perf.raw][skip:]
        if event.name == EXECUTE:
            dump.execute_ms = raw
        elif event.name == DELEGATE_CALL:
            delegate_calls.append(raw)
        else:
            dump.ops.append(OpEvent(str(event.name), bool(event.is_delegated_op), tuple(raw)))
    if not dump.execute_ms:
        raise EtdumpError(
            f"the ETDump {Path(path).name} has no warm Method::execute sample (skipped {skip}); "
            "profile with more iterations"
        )
    n = len(dump.execute_ms)
    dump.delegate_ms = [sum(call[i] for call in delegate_calls if i < len(call)) for i in range(n)]
    uneven = [op.name for op in dump.ops if len(op.samples_ms) != n]
    if uneven:
        raise EtdumpError(
            f"the ETDump {Path(path).name}: {uneven[0]} has not one time per iteration "
            "(a program with control flow?); per-layer profiles need a straight-line program"
        )
    return dump
