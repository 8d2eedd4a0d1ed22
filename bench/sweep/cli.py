"""`python -m bench sweep` (nox -s sweep): the papers' MobileNet grid on one device, its latency /
top-1 frontier per recipe, and the most accurate model within `--budget-ms`.

    nox -s sweep -- --target host --budget-ms 10 --families mobilenet_v3_small --quick

`--target` is `host` (this machine's CPU: not a phone), an Android serial or `HOST:PORT` of a
simulator (bench-android's shell mode: one large core, pinned), or `user@board` for a Linux
board over SSH (bench-ssh). Artifacts go to `--artifacts` (default artifacts/sweep: a manifest
of their own, so `bench-host` on artifacts/ is not swamped), runs to `--store`, the page to
`--html` (default: sweep-<device>.html beside the store). Ctrl-C keeps every finished export
and round: run the same command again to go on where it stopped.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from bench import options
from bench.store import DEFAULT_PATH, Store
from bench.sweep import plan
from bench.sweep.errors import SweepError
from bench.sweep.grid import grid, parse_families
from bench.sweep.report import Answer, Context, render_html, render_terminal
from bench.sweep.run import Settings, Sweep, Ui
from bench.targets.base import Target

DEFAULT_ARTIFACTS = Path("artifacts") / "sweep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        default="host",
        help="host (this CPU, not a phone), an Android serial or HOST:PORT (a simulator), or "
        "user@board[:port] for a Linux board over SSH (default: host)",
    )
    parser.add_argument(
        "--budget-ms",
        type=float,
        help="latency budget per inference, ms: the most accurate frontier model within it is "
        "recommended (without: the frontiers only)",
    )
    parser.add_argument(
        "--families",
        nargs="+",
        help="mobilenet_v1, mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small (or v1, v2, "
        "v3_large, v3_small; default: all)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        help="only these points of the grid (names like mobilenet_v3_small_1.0_224)",
    )
    parser.add_argument(
        "--recipes", nargs="+", help="XNNPACK .pte recipes (default: xnnpack-fp32 xnnpack-int8)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"corners and diagonal of each grid first, then the frontier's neighbours that "
        f"could change it; {plan.QUICK_ROUNDS} rounds per point unless --rounds is given",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=DEFAULT_ARTIFACTS,
        help="export folder, with its own manifest (default: %(default)s)",
    )
    parser.add_argument("--store", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument(
        "--html", type=Path, help="the page (default: sweep-<device>.html beside the store)"
    )
    parser.add_argument(
        "--weights",
        default="random",
        help="random (default; the papers' top-1 is then not what the files compute) or "
        "imagenet (torch hub cache; only where torchvision has the width)",
    )
    parser.add_argument(
        "--calibration-dir", type=Path, help="int8 calibration images (default: scikit-image's)"
    )
    options.add_measurement_arguments(parser, rounds=plan.FULL_ROUNDS)
    parser.set_defaults(rounds=None)  # None: FULL_ROUNDS, or QUICK_ROUNDS with --quick
    parser.add_argument(
        "--force", action="store_true", help="measure again what the store already has"
    )
    parser.add_argument("--timeout", type=float, help="seconds per runner process")
    parser.add_argument("--core", type=int, help="host: the CPU to pin to (default: the last)")
    parser.add_argument("--key", type=Path, help="SSH: private key (default: agent, ~/.ssh/id_*)")
    parser.add_argument("--known-hosts", type=Path, help="SSH: default ~/.ssh/known_hosts")
    parser.add_argument(
        "--trust-new-host", action="store_true", help="SSH: accept a board's key on first contact"
    )


def make_target(args: argparse.Namespace) -> Target:
    """The target `--target` names (host, user@board, or an Android serial)."""
    spec = str(args.target).strip()
    if not spec:
        raise SweepError("--target is empty; give host, an Android serial, or user@board")
    if spec == "host":
        from bench.targets.host import HostTarget, allowed_cpus, default_core

        core = default_core() if args.core is None else args.core
        if core not in allowed_cpus():
            raise SweepError(f"--core {core} is not one of this process's CPUs {allowed_cpus()}")
        return HostTarget(core, None, args.timeout)
    from bench.targets.android import HostChecks, Options

    if "@" in spec:
        from bench.targets.ssh import Connection, SshTarget

        host, _, port = spec.rpartition(":") if re.search(r":\d+$", spec) else (spec, "", "22")
        connection = Connection(host, int(port), args.key, args.known_hosts, args.trust_new_host)
        return SshTarget(connection, Options(timeout_s=args.timeout))
    from bench.targets.android import android_target

    phone_options = Options(
        timeout_s=args.timeout,
        device_options={"io_timeout_s": 10.0},
        check_cache=Path(args.store).with_name("device-checks.json"),
    )
    return android_target(spec, "shell", phone_options, host_checks=HostChecks())


def _recipes(values: list[str] | None) -> list[Any]:
    from deploy.export.recipes import parse_recipes

    recipes = parse_recipes(options.names(values) or None)
    for recipe in recipes:
        if recipe.backend != "xnnpack" or recipe.format != ".pte":
            raise SweepError(
                f"recipe {recipe.name} is not an XNNPACK .pte: the sweep measures with "
                "bench_runner; give xnnpack-fp32 and/or xnnpack-int8"
            )
    return recipes


class RichUi(Ui):
    """Two bars over the grid: exports and measured rounds; messages above them."""

    def __init__(self, console: Any) -> None:
        from deploy.console import progress_bar

        self.progress = progress_bar(console, "{task.fields[what]:<8}", transient=False)
        self.exports = self.progress.add_task("", total=0, what="export")
        self.rounds = self.progress.add_task("", total=0, what="measure")

    def __enter__(self) -> RichUi:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def say(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def _grow(self, task: Any, count: int) -> None:
        current = self.progress.tasks[task].total or 0
        self.progress.update(task, total=current + count)

    def exporting(self, count: int) -> None:
        self._grow(self.exports, count)

    def export_event(self, event: Any) -> None:
        name = f"{event.model} {event.recipe}"
        if event.kind == "done":
            cached = event.outcome is not None and event.outcome.cached
            self.progress.advance(self.exports)
            self.progress.update(
                self.exports, description=f"{name}: {'cached' if cached else 'done'}"
            )
        else:
            self.progress.update(
                self.exports, description=f"{name}: {event.stage or 'cache check'}"
            )

    def measuring(self, rounds: int) -> None:
        self._grow(self.rounds, rounds)

    def round_done(self) -> None:
        self.progress.advance(self.rounds)

    def stage_done(self) -> None:
        for task in (self.exports, self.rounds):
            total = self.progress.tasks[task].total or 0
            self.progress.update(task, completed=total, description="")


def _facts(store_path: Path, device_id: str) -> dict[str, Any]:
    """The machine facts stored with the device's latest run (CPU model, int8 features, ...)."""
    with Store.open(store_path) as store:
        runs = store.runs(device_id=device_id, status="ok")
    return dict(runs[-1].machine) if runs else {}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "device"


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console

    if args.budget_ms is not None and not args.budget_ms > 0:
        raise SweepError(f"--budget-ms {args.budget_ms:g}: give a latency budget above 0 ms")
    families = parse_families(args.families)
    recipes = _recipes(args.recipes)
    rounds = (
        args.rounds
        if args.rounds is not None
        else (plan.QUICK_ROUNDS if args.quick else plan.FULL_ROUNDS)
    )
    if rounds < 1:
        raise SweepError(f"--rounds {rounds}: give at least 1 (5 or more to compare)")
    config = options.runner_config(args)
    points = grid(families)
    if wanted := options.names(args.models):
        names = {p.name: p for p in points}
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise SweepError(
                f"--models {', '.join(unknown)}: not in the papers' grid of "
                f"{', '.join(families)}; it holds {', '.join(names)}"
            )
        points = [p for p in points if p.name in wanted]
    target = make_target(args)
    settings = Settings(
        recipes,
        args.artifacts,
        args.store,
        config,
        rounds,
        weights=args.weights,
        calibration_dir=args.calibration_dir,
        skip_stored=not args.force,
    )
    console, err = make_console(), make_console(stderr=True)
    started = time.monotonic()
    with RichUi(err) as ui:
        sweep = Sweep(target, settings, ui)
        first = sweep.first_pairs(points, args.quick)
        if not first:
            raise SweepError(
                "no point of the chosen families has a top-1 for --quick; run without --quick"
            )
        mode = "quick" if args.quick else "full"
        ui.say(
            f"sweep ({mode}): {len({p for p, _ in first})} of {len(points)} grid points x "
            f"{len(recipes)} recipe(s) first, {rounds} round(s) each, on {args.target}"
        )
        first_estimate = sweep.estimate(first)
        ui.say(first_estimate.line())
        if args.quick:
            seeded = set(first)
            rest = [pair for pair in sweep.known_top1(points) if pair not in seeded]
            more = sweep.estimate(rest)
            ui.say(
                f"  refinement near the frontier may add up to {more.jobs} point(s) x recipe: "
                f"at most {plan.duration(more.total_s)} more"
            )
        for line in first_estimate.basis:
            ui.say(f"  {line}")
        results = sweep.run(points, quick=args.quick, first=first)
    elapsed = time.monotonic() - started
    state = sweep.state
    if state.device is None:
        raise SweepError("nothing was measured: no point could be exported (see the errors above)")
    weights = sorted({str(e.weights.get("source", "?")) for e in state.entries.values()})
    context = Context(
        device=state.device.name or state.device.id,
        device_id=state.device.id,
        provenance=state.provenance,
        budget_ms=args.budget_ms,
        rounds=rounds,
        quick=args.quick,
        facts=_facts(args.store, state.device.id),
        weights=tuple(weights),
        store=str(args.store),
    )
    answer = Answer.of(results, args.budget_ms)
    render_terminal(context, answer, console)
    html_path = args.html or Path(args.store).with_name(f"sweep-{_slug(state.device.id)}.html")
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(context, answer), encoding="utf-8")
    except OSError as exc:
        raise SweepError(f"cannot write {html_path}: {exc.strerror}; pass --html PATH") from None
    console.print(f"wrote {html_path}", markup=False, highlight=False)
    console.print(
        f"sweep took {elapsed / 60:.1f} min ({elapsed:.0f} s); stored in {args.store}",
        markup=False,
        highlight=False,
    )
    failed = any(
        r.status in ("failed", "invalid export") for rows in results.values() for r in rows
    )
    return 2 if failed else 0
