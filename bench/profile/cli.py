"""`python -m bench profile` (nox -s profile): the stored per-layer profiles as tables.

    python -m bench profile                               # the newest profile of each artifact
    python -m bench profile --models mobilenet_v3_small_1.0_224 --recipes xnnpack-int8
    python -m bench profile --devices host,Pixel          # two devices side by side, per layer
    python -m bench profile --html profile.html           # + bar chart and roofline per profile

Profiles come from `bench-host`, `bench-android` or `bench-ssh` with `--profile`. Per layer:
time (median over the profiled iterations), % of the operators' total, MAdds, GMAC/s and % of
the core's measured peak (the peak probe, same device and precision). Under each table, the sum
of the operators' times beside the timed session's median latency.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import options
from bench.errors import BenchError
from bench.profile.view import ProfileView, by_kind, latest_views, side_by_side
from bench.store import DEFAULT_PATH, Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--models", nargs="+", help="model names (default: every profiled one)")
    parser.add_argument("--recipes", nargs="+", help="recipe names (default: all)")
    parser.add_argument(
        "--devices",
        nargs="+",
        help="device ids or parts of their names (comma-separated or repeated); two of them: "
        "side by side, layer by layer",
    )
    parser.add_argument(
        "--all-ops",
        action="store_true",
        help="one row per operator (default: conv/linear layers, other operators by kind)",
    )
    parser.add_argument("--html", type=Path, help="also write an HTML page with the figures")


def _fmt(value: float | None, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def _geometry(row: Any) -> tuple[str, str, str, str]:
    kernel = f"{row.kernel}x{row.kernel}" if row.kernel else ""
    stride = str(row.stride) if row.stride else ""
    groups = str(row.groups) if row.groups else ""
    channels = f"{row.in_channels}->{row.out_channels}" if row.in_channels else ""
    return kernel, stride, groups, channels


def sum_lines(view: ProfileView) -> list[str]:
    """The operators' sum beside the timed median (and what else the profile saw)."""
    p = view.profile
    lines = [
        f"sum of the operators' times: {view.ops_ms:.3f} ms "
        f"(median per operator over {p.iterations} profiled iterations)"
    ]
    if view.timed_median_ms:
        ratio = view.ops_ms / view.timed_median_ms
        lines.append(
            f"measured median latency: {view.timed_median_ms:.3f} ms (timed session "
            f"{p.session_id}, {view.timed_rounds} rounds, no profiler); sum / median = "
            f"{ratio:.3f} ({'within' if abs(ratio - 1) <= 0.10 else 'NOT within'} 10%)"
        )
    else:
        lines.append("measured median latency: none stored for this profile's session")
    outside = next((r.time_ms for r in view.overhead if not r.delegated), 0.0)
    between = next((r.time_ms for r in view.overhead if r.delegated), 0.0)
    execute = p.total_ms or 0.0
    lines.append(
        f"profiling round: Method::execute {execute:.3f} ms = operators + {between:.3f} ms in "
        f"the delegate between operators (XNNPACK times are whole microseconds) + "
        f"{outside:.3f} ms outside the delegate ({outside / execute:.1%})"
        if execute
        else "profiling round: no Method::execute time"
    )
    if view.peak is not None:
        lines.append(
            f"peak ({view.precision}, measured by the peak probe on this device): "
            f"{view.peak.gmacs:.1f} GMAC/s"
        )
    else:
        lines.append(f"peak: no {view.precision or '?'} peak stored for this device (--profile)")
    return lines


def render_view(view: ProfileView, console: Any, all_ops: bool = False) -> None:
    from rich.table import Table

    p = view.profile
    title = f"{view.model} {view.recipe} on {view.device_label}"
    table = Table(title=title, title_justify="left", show_lines=False)
    for name, justify in (
        ("#", "right"),
        ("layer", "left"),
        ("op", "left"),
        ("kernel", "right"),
        ("stride", "right"),
        ("groups", "right"),
        ("channels", "right"),
        ("ms", "right"),
        ("% time", "right"),
        ("MAdds M", "right"),
        ("GMAC/s", "right"),
        ("% peak", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    total = view.ops_ms or 1.0
    shown = [r for r in p.layers if r.op != "overhead"] if all_ops else view.layers
    for row in shown:
        rate, share = view.gmacs(row), view.of_peak(row)
        table.add_row(
            str(row.idx),
            row.name,
            row.op,
            *_geometry(row),
            f"{row.time_ms:.3f}",
            f"{row.time_ms / total:.1%}",
            _fmt(row.madds / 1e6 if row.madds else None, ".2f"),
            _fmt(rate, ".1f"),
            _fmt(share, ".0%"),
        )
    if not all_ops:
        for kind, count, ms in by_kind(view.others):
            table.add_row(
                "", f"{kind} x{count}", "other", "", "", "", "", f"{ms:.3f}", f"{ms / total:.1%}"
            )
    console.print(table)
    device = view.cpu
    console.print(
        f"what produced it: {view.device_label}"
        + (f", {device}" if device else "")
        + (" -- NOT a phone" if p.provenance in ("host", "simulator") else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for line in sum_lines(view):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()


def render_pair(a: ProfileView, b: ProfileView, console: Any) -> None:
    from rich.table import Table

    pairs = side_by_side(a, b)
    table = Table(
        title=f"{a.model} {a.recipe}: {a.device_label} vs {b.device_label}, layer by layer",
        title_justify="left",
    )
    for name in ("#", "layer", "op", "A ms", "B ms", "B/A", "relative"):
        table.add_column(name, justify="left" if name in ("layer", "op") else "right")
    overall = b.ops_ms / a.ops_ms if a.ops_ms else 0.0
    for pair in pairs:
        row = pair.layer
        if row.op not in ("conv", "dwconv", "linear") and max(pair.time_a_ms, pair.time_b_ms) < (
            0.01 * max(a.ops_ms, b.ops_ms)
        ):
            continue  # small non-layer operators: in the sum, not in the table
        ratio = pair.time_b_ms / pair.time_a_ms if pair.time_a_ms > 0 else None
        table.add_row(
            str(row.idx),
            row.name,
            row.op,
            f"{pair.time_a_ms:.3f}",
            f"{pair.time_b_ms:.3f}",
            _fmt(ratio, ".2f"),
            _fmt(pair.relative, ".2f"),
        )
    console.print(table)
    console.print(
        f"all operators: A {a.ops_ms:.3f} ms, B {b.ops_ms:.3f} ms (B/A {overall:.2f}); "
        "relative = a layer's B/A over the whole B/A: above 1 the layer got relatively slower",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    slower = sorted((p for p in pairs if p.relative), key=lambda p: -(p.relative or 0))[:5]
    if slower:
        console.print(
            "relatively slower on B: "
            + "; ".join(f"#{p.layer.idx} {p.layer.name} x{p.relative:.2f}" for p in slower),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    kinds: dict[str, list[float]] = {}
    for pair in pairs:
        kinds.setdefault(pair.layer.op, [0.0, 0.0])
        kinds[pair.layer.op][0] += pair.time_a_ms
        kinds[pair.layer.op][1] += pair.time_b_ms
    console.print(
        "by op kind, B/A: "
        + ", ".join(f"{k} {v[1] / v[0]:.2f}" for k, v in sorted(kinds.items()) if v[0] > 0),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print()


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console

    if not Path(args.store).exists():
        raise BenchError(f"no store at {args.store}; run `nox -s bench-host -- --profile` first")
    devices = options.names(args.devices)
    with Store.open(args.store) as store:
        views = latest_views(
            store,
            models=options.names(args.models),
            recipes=options.names(args.recipes),
            devices=devices,
        )
    if not views:
        raise BenchError(
            f"no per-layer profile in {args.store} matches; profile with "
            "`nox -s bench-host -- --profile` (or bench-android / bench-ssh --profile)"
        )
    console = make_console()
    if len(devices) == 2:
        pairs = 0
        for a in views:
            if not _is(a, devices[0]):
                continue
            for b in views:
                if b.profile.artifact_sha256 == a.profile.artifact_sha256 and _is(b, devices[1]):
                    render_pair(a, b, console)
                    pairs += 1
        if not pairs:
            raise BenchError(
                f"no artifact is profiled on both {devices[0]} and {devices[1]}; profile the "
                "same artifact on both (--profile)"
            )
    else:
        for view in views:
            render_view(view, console, args.all_ops)
    if args.html:
        from bench.profile.html import write_html

        write_html(views, args.html)
        console.print(f"wrote {args.html}", markup=False, highlight=False)
    return 0


def _is(view: ProfileView, wanted: str) -> bool:
    from bench.profile.view import matches

    return matches(view.device, view.profile.device_id, wanted)
