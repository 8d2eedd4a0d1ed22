"""`python -m bench bench-host` (nox -s bench-host): this machine as a benchmark device.

Every valid artifact of the manifest (or the --pte files) is measured by the one session loop
(`bench.session`) on the host target (`bench.targets.host`: the same runner, result JSON and
store as a phone), and the table prints our medians beside the papers' Pixel figures. The
figures measure THIS HOST'S CPU, not a phone: the table says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from bench import options, stats
from bench.errors import BenchError
from bench.runner import build
from bench.runner.run import RunnerConfig
from bench.session import Row, plain_say, run_session
from bench.targets.host import (
    BUSY_LOAD_PER_CPU,
    HostTarget,
    allowed_cpus,
    default_core,
    host_facts,
    int8_note,
)
from deploy.models import paper

# -- output -----------------------------------------------------------------------------------


def render(rows: Sequence[Row], facts: dict[str, Any], config: RunnerConfig, console) -> None:
    from rich.table import Table

    title = (
        f"bench-host: THIS HOST's CPU ({facts['cpu_model']}, core {facts['core']}, "
        f"{config.threads} XNNPACK thread) - provenance host, not a phone"
    )
    table = Table(title=title)
    table.add_column("model", no_wrap=True)
    table.add_column("recipe", no_wrap=True)
    for name in ("median ms *", "CI (rounds)", "p10", "rounds", "load ms"):
        table.add_column(name, justify="right", no_wrap=True)
    for device in paper.DEVICES:
        table.add_column(f"{device} (paper)", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True)
    for row in rows:
        pixels = [f"{row.paper_ms[d]:g}" if d in row.paper_ms else "-" for d in paper.DEVICES]
        notes = ["NOT STORED"] if row.not_stored else []
        estimate = row.estimate
        if estimate is None:
            why = "; ".join([*notes, row.error])
            table.add_row(row.model, row.recipe, "FAILED", "", "", "", "", *pixels, why)
            continue
        if row.rounds_failed:
            notes.append(f"{row.rounds_failed} round(s) failed: {row.error}")
        unstable = row.summary is not None and bool(row.summary.warnings)
        table.add_row(
            row.model,
            row.recipe,
            f"{estimate.median:.2f}",
            stats.ci_text(estimate),
            f"{estimate.p10:.2f}",
            str(estimate.n_rounds),
            f"{row.load_ms:.1f}" if row.load_ms is not None else "",
            *pixels,
            "; ".join([*notes, *(["unstable within one process"] if unstable else [])]),
        )
    console.print(table)
    console.print(f"* {stats.HEADLINE}; CI from the rounds; p10: median of the round p10s")
    console.print(
        "paper: TFLite, one large core, one thread, on Pixel phones (deploy/models/paper.py); "
        "ours: ExecuTorch + XNNPACK on this host's CPU. Compare trends, not absolute values.",
        soft_wrap=True,
    )
    if (note := int8_note(facts)) and any(row.precision == "int8" for row in rows):
        console.print(note, soft_wrap=True)
    load, cpus = facts["loadavg"][0], facts.get("online_cpus") or 1
    if load > BUSY_LOAD_PER_CPU * cpus:
        console.print(
            f"warning: this host is busy (load average {load:.1f} on {cpus} CPUs): other "
            "processes share the pinned core, so these latencies are contended and will not "
            "repeat; rerun on an idle machine",
            soft_wrap=True,
        )
    for row in rows:
        if row.summary is not None:
            for warning in row.summary.warnings:
                console.print(f"warning: {row.model} {row.recipe}: {warning}", soft_wrap=True)


# -- command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_selection_arguments(parser, "recipe names (default: all)")
    options.add_pte_argument(parser)
    options.add_ab_argument(parser)
    options.add_measurement_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: last)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per runner process")
    parser.add_argument(
        "--count-instructions",
        action="store_true",
        help="also count instructions per inference under valgrind (deterministic, slow: "
        "minutes per MobileNet; stored as the run's instructions_per_inference metric)",
    )


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console

    config = options.runner_config(args, threads=args.threads)
    core = default_core() if args.core is None else args.core
    if core not in allowed_cpus():
        raise BenchError(f"--core {core} is not one of this process's CPUs {allowed_cpus()}")
    artifacts = options.ab_artifacts(args) or options.selected_artifacts(args)
    target = HostTarget(
        core, build.build_host(), args.timeout, count_instructions=args.count_instructions
    )
    (outcome,) = run_session(
        [target],
        artifacts,
        config,
        args.store,
        rounds=options.rounds(args),
        skip_stored=False,
        say=plain_say,
    )
    if outcome.error and not outcome.not_stored:
        raise BenchError(outcome.error)
    console = make_console()
    render(outcome.rows, host_facts(core), config, console)
    unstored = len(outcome.not_stored)
    locked = f", except {unstored} run(s): NOT STORED (see the errors above)" if unstored else ""
    console.print(f"stored in {args.store}{locked}")
    for line in options.ab_lines(args, outcome.rows) if args.ab else []:
        console.print(line, soft_wrap=True, markup=False)
    return 2 if outcome.failed else 0
