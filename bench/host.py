"""This machine as a benchmark device: same runner, same result JSON, same store as a phone.

The run is pinned to ONE core with `taskset -c <core>` and the runner resets XNNPACK's pool to
one thread (taskset alone leaves a 2-thread pool time-slicing on one core). Each artifact gets
its own process: load, first inference, warmups, then measured iterations until the count,
the minimum time and the target precision are met, or the time budget ends.

`python -m bench bench-host` (nox -s bench-host) benchmarks every valid artifact of the
manifest and prints our medians beside the papers' Pixel figures. The figures measure THIS
HOST'S CPU, not a phone: the table says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import options, stats
from bench.errors import ArtifactError, BenchError, ResultSchemaError, RunnerError
from bench.runner import build
from bench.runner.run import RunnerConfig, run_host
from bench.store import ArtifactRecord, DeviceRecord, RunRecord, Store
from deploy.artifacts.hashing import sha256_file
from deploy.models import paper

# Above this 1-minute load average per CPU the table warns that figures are contended.
BUSY_LOAD_PER_CPU = 0.5


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def allowed_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def default_core() -> int:
    """The last CPU we may run on (cpu0 tends to take more interrupts)."""
    return allowed_cpus()[-1]


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# CPU features with an int8 dot product, which decide XNNPACK's int8 kernels: without one
# (x86 with AVX2 only) its int8 convolutions use 16-bit multiply-adds and run no faster than
# fp32, while phones (arm64 `asimddp`, Pixel 4 and later) have one.
INT8_DOT_FEATURES = ("avx_vnni", "avx512_vnni", "amx_int8", "asimddp", "i8mm")


def int8_dot_features(cpuinfo: str | None = None) -> list[str]:
    """Which of INT8_DOT_FEATURES the CPU has, from /proc/cpuinfo's flags (x86) or Features."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            present = set(value.split())
            return [f for f in INT8_DOT_FEATURES if f in present]
    return []


def int8_note(facts: dict[str, Any]) -> str | None:
    """What to tell a reader of int8 figures from an x86 CPU without an int8 dot product."""
    if facts.get("int8_dot") != [] or facts.get("machine") not in ("x86_64", "AMD64"):
        return None
    return (
        "This CPU has no int8 dot product (AVX-VNNI / AVX512-VNNI): XNNPACK's int8 "
        "convolutions use 16-bit multiply-adds here and run at about its fp32 speed, so int8 "
        "figures from it do not carry over to arm64 phones (see benchmarks/layer_kernels.py)."
    )


def host_facts(core: int) -> dict[str, Any]:
    """What this host looked like when a run started (stored with every run)."""
    cpufreq = Path(f"/sys/devices/system/cpu/cpu{core}/cpufreq")
    freq_khz = _read(cpufreq / "scaling_cur_freq")
    mhz = None
    if freq_khz is None:  # VMs often expose no cpufreq: take /proc/cpuinfo's figure
        for block in (_read("/proc/cpuinfo") or "").split("\n\n"):
            if f"processor\t: {core}\n" in block + "\n":
                for line in block.splitlines():
                    if line.startswith("cpu MHz"):
                        mhz = float(line.split(":", 1)[1])
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "int8_dot": int8_dot_features(),
        "machine": uname.machine,
        "kernel": uname.release,
        "core": core,
        "online_cpus": os.cpu_count(),
        "governor": _read(cpufreq / "scaling_governor"),
        "freq_mhz": int(freq_khz) / 1000 if freq_khz else mhz,
        "freq_max_mhz": int(m) / 1000 if (m := _read(cpufreq / "cpuinfo_max_freq")) else None,
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
    }


def host_device() -> DeviceRecord:
    facts = host_facts(default_core())
    return DeviceRecord(
        id=f"host:{facts['hostname']}:{facts['machine']}",
        kind="host",
        name=facts["hostname"],
        model=facts["cpu_model"],
        abi=facts["machine"],
        os=f"Linux {facts['kernel']}",
        metadata={k: facts[k] for k in ("cpu_model", "online_cpus", "kernel", "machine")},
    )


@dataclass(frozen=True)
class HostArtifact:
    record: ArtifactRecord
    path: Path


@dataclass
class HostRow:
    model: str
    recipe: str
    precision: str
    status: str  # ok | failed
    run_id: int | None = None
    summary: stats.Summary | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    error: str = ""
    paper_ms: dict[str, float] = field(default_factory=dict)
    not_stored: str = ""  # the store stayed locked: why, where the run is kept, the fix


def _paper(model: str, precision: str) -> dict[str, float]:
    try:
        return {dev: lat.latency_ms for dev, lat in paper.latencies(model, precision).items()}
    except (KeyError, ValueError):
        return {}


def bench_artifacts(
    artifacts: Sequence[HostArtifact],
    store: Store,
    config: RunnerConfig,
    *,
    core: int | None = None,
    timeout: float | None = None,
    runner: Path | None = None,
    report: Any = None,
) -> list[HostRow]:
    """Benchmark each artifact on this host; store every run (ok or failed); return rows.

    A missing or tampered .pte, a runner crash, a hang or a bad result becomes a failed-run row
    with a one-line error, and the next artifact still runs. A run that a locked store does not
    take keeps its row, with `not_stored` saying so (see Store.save_run)."""
    core = default_core() if core is None else core
    runner = runner or build.build_host()
    device = host_device()
    store.upsert_device(device)
    budget = timeout or (max(config.max_time_s, config.min_time_s) + 300.0)
    rows: list[HostRow] = []
    for art in artifacts:
        rec = art.record
        store.upsert_artifact(rec)
        row = HostRow(rec.model, rec.recipe, rec.precision, "failed")
        row.paper_ms = _paper(rec.model, rec.precision)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        facts = host_facts(core)
        try:
            if not art.path.exists():
                raise ArtifactError(f"{art.path} is missing; run `nox -s export` again")
            actual = sha256_file(art.path)
            if actual != rec.sha256:
                raise ArtifactError(
                    f"{art.path} has sha256 {actual[:12]}…, the manifest says "
                    f"{rec.sha256[:12]}… (tampered or stale); re-export it"
                )
            result = run_host(runner, art.path, config, core=core, timeout=budget)
            if result.artifact_sha256 != rec.sha256:
                raise ArtifactError(f"the runner read a different file than {art.path}")
            run = RunRecord.from_result(
                result,
                device_id=device.id,
                provenance="host",
                config_key=config.key(),
                started_at=started,
                host={**facts, "loadavg_after": list(os.getloadavg())},
            )
            row.status = "ok"
            row.summary = stats.summarize(result.samples_ms)
            row.load_ms, row.first_ms = result.load_ms, result.first_inference_ms
            row.run_id, row.not_stored = store.save_run(run, result.samples_ms, result.warmup_ms)
        except (ArtifactError, RunnerError, ResultSchemaError) as exc:
            row.error = str(exc)
            row.run_id, row.not_stored = store.save_run(
                RunRecord(
                    device.id,
                    rec.sha256,
                    "host",
                    config.key(),
                    status="failed",
                    error=row.error,
                    runner_name="bench_runner",
                    runner_version=build.runner_version(),
                    threads=config.threads,
                    core_mask=hex(1 << core),
                    started_at=started,
                    host=facts,
                )
            )
        rows.append(row)
        if report is not None:
            report(row)
    return rows


# -- the manifest -----------------------------------------------------------------------------


def runs_on_bench_runner(entry: Any) -> bool:
    """XNNPACK .pte programs: what bench_runner (built with the XNNPACK delegate only) runs.

    Core ML packages and .pte programs delegated to Core ML (et-coreml-fp16) go to the iOS
    harness instead.
    """
    recipe = entry.recipe or {}
    return recipe.get("backend") == "xnnpack" and str(recipe.get("format")).lstrip(".") == "pte"


def manifest_artifacts(
    manifest_path: Path,
    models: Iterable[str] = (),
    recipes: Iterable[str] = (),
) -> list[HostArtifact]:
    """Valid ExecuTorch entries of the manifest (optionally filtered) as HostArtifacts."""
    selected = options.manifest_selection(
        manifest_path,
        runs_on_bench_runner,
        models,
        recipes,
        what=".pte artifact",
        hint="see `nox -s export`",
    )
    return [HostArtifact(record, path) for record, path in selected]


def unlisted_artifacts(paths: Iterable[Path]) -> list[HostArtifact]:
    """.pte files outside any manifest: identity is their sha256 alone, and the store says so
    (model `unlisted:<file name>`, recipe `unlisted`) rather than guessing from the name."""
    out = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ArtifactError(f"{path} does not exist")
        out.append(
            HostArtifact(
                ArtifactRecord(sha256_file(path), f"unlisted:{path.name}", "unlisted"), path
            )
        )
    return out


# -- output -----------------------------------------------------------------------------------


def render(rows: Sequence[HostRow], facts: dict[str, Any], config: RunnerConfig, console) -> None:
    from rich.table import Table

    title = (
        f"bench-host: THIS HOST's CPU ({facts['cpu_model']}, core {facts['core']}, "
        f"{config.threads} XNNPACK thread) - provenance host, not a phone"
    )
    table = Table(title=title)
    table.add_column("model", no_wrap=True)
    table.add_column("recipe", no_wrap=True)
    for name in ("median ms", "95% CI", "p10", "p90", "n", "load ms"):
        table.add_column(name, justify="right", no_wrap=True)
    for device in paper.DEVICES:
        table.add_column(f"{device} (paper)", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True)
    for row in rows:
        pixels = [f"{row.paper_ms[d]:g}" if d in row.paper_ms else "-" for d in paper.DEVICES]
        notes = ["NOT STORED"] if row.not_stored else []
        if row.summary is None:
            why = "; ".join([*notes, row.error])
            table.add_row(row.model, row.recipe, "FAILED", "", "", "", "", "", *pixels, why)
            continue
        s = row.summary
        table.add_row(
            row.model,
            row.recipe,
            f"{s.median:.2f}",
            f"±{s.rel_ci_halfwidth:.1%}",
            f"{s.p10:.2f}",
            f"{s.p90:.2f}",
            str(s.n),
            f"{row.load_ms:.1f}" if row.load_ms is not None else "",
            *pixels,
            "; ".join([*notes, *(["unstable"] if s.warnings else [])]),
        )
    console.print(table)
    console.print(
        "paper: TFLite, one large core, one thread, on Pixel phones (bench/paper.py); ours: "
        "ExecuTorch + XNNPACK on this host's CPU. Compare trends, not absolute values.",
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


def selected_artifacts(args: argparse.Namespace) -> list[HostArtifact]:
    """The --pte files, else the manifest's runnable entries filtered by --models/--recipes."""
    if args.pte:
        return unlisted_artifacts(args.pte)
    return manifest_artifacts(
        args.manifest, options.names(args.models), options.names(args.recipes)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_selection_arguments(parser, "recipe names (default: all)")
    parser.add_argument(
        "--pte", nargs="+", type=Path, help="benchmark these .pte files instead of the manifest"
    )
    options.add_measurement_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: last)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per runner process")


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console

    config = options.runner_config(args, threads=args.threads)
    core = default_core() if args.core is None else args.core
    if core not in allowed_cpus():
        raise BenchError(f"--core {core} is not one of this process's CPUs {allowed_cpus()}")
    artifacts = selected_artifacts(args)
    runner = build.build_host()
    console = make_console()

    def report(row: HostRow) -> None:  # plain prints: one line each, never wrapped
        if row.status == "ok" and row.summary is not None:
            where = f"run {row.run_id}" if row.run_id is not None else "NOT STORED"
            print(
                f"{row.model} {row.recipe}: median {row.summary.median:.2f} ms "
                f"(n={row.summary.n}, {where})",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(f"error: {row.model} {row.recipe}: {row.error}", file=sys.stderr, flush=True)
        if row.not_stored:
            print(f"error: {row.model} {row.recipe}: {row.not_stored}", file=sys.stderr, flush=True)

    with Store.open(args.store) as store:
        rows = bench_artifacts(
            artifacts,
            store,
            config,
            core=core,
            timeout=args.timeout,
            runner=runner,
            report=report,
        )
    render(rows, host_facts(core), config, console)
    unstored = sum(1 for r in rows if r.not_stored)
    locked = f", except {unstored} run(s): NOT STORED (see the errors above)" if unstored else ""
    console.print(f"stored in {args.store}{locked}")
    return 0 if all(r.status == "ok" and not r.not_stored for r in rows) else 2
