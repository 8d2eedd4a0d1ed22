"""`python -m bench bench-host` (nox -s bench-host): this machine as a benchmark device.

Every valid artifact of the manifest (or the --pte files) is measured by the one session loop
(`bench.session`) on the host target (`bench.targets.host`: the same runner, result JSON and
store as a phone), and the table prints our medians beside the papers' Pixel figures. The
figures measure THIS HOST'S CPU, not a phone: the table says so.
"""

from __future__ import annotations

import argparse

from bench import options
from bench.errors import BenchError
from bench.report.sessions import render_host
from bench.runner import build
from bench.session import plain_say, run_session
from bench.targets.host import HostTarget, allowed_cpus, default_core, host_facts

# -- command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_selection_arguments(parser, "recipe names (default: all)")
    options.add_pte_argument(parser)
    options.add_ab_argument(parser)
    options.add_measurement_arguments(parser)
    options.add_profile_arguments(parser)
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
        **options.profile_options(args),
    )
    if outcome.error and not outcome.not_stored:
        raise BenchError(outcome.error)
    console = make_console()
    render_host(outcome.rows, host_facts(core), config, console)
    unstored = len(outcome.not_stored)
    locked = f", except {unstored} run(s): NOT STORED (see the errors above)" if unstored else ""
    console.print(f"stored in {args.store}{locked}")
    if args.profile:
        console.print(f"per-layer profiles: python -m bench profile --store {args.store}")
    for line in options.ab_lines(args, outcome.rows) if args.ab else []:
        console.print(line, soft_wrap=True, markup=False)
    return 2 if outcome.failed else 0
