"""bench-android end to end against simulated phones: real adb-shell client, real runner builds,
real SQLite store. x86_64 phones run the host build (real host timings, provenance simulator);
arm64 phones run the arm64 bundle under qemu (functional check, no latency stored)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from bench.android import phone
from bench.report.sessions import render_devices
from bench.session import run_session
from bench.store import Store
from bench.targets.android import HostChecks, android_target
from deploy.devices.android import AndroidDevice
from deploy.devices.base import DEVICE_ROOT
from deploy.devices.simulator import Faults, phone_processes
from tests.android.conftest import FAST, tweak


def _run(serials, artifacts, options, store, say=None):
    messages: list[str] = []

    def record(serial: str, message: str) -> None:
        messages.append(f"[{serial}] {message}")
        if say is not None:
            say(serial, message)

    checks = HostChecks()
    targets = [android_target(s, options.mode, options.phone, host_checks=checks) for s in serials]
    outcomes = run_session(
        targets, artifacts, options.config, store, skip_stored=not options.force, say=record
    )
    return outcomes, messages


def _render(outcomes) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    render_devices(outcomes, Console(file=buffer, width=400))
    return buffer.getvalue()


def _runners_in(sandbox: Path) -> list[int]:
    """Host pids of bench_runner processes on the simulated phone whose folder is `sandbox`:
    the program itself (`./bench_runner ...`, or a script's `sh ./bench_runner`), not a shell
    whose command text merely mentions it (`sh -c '... exec ./bench_runner'`)."""
    return [pid for pid in phone_processes(sandbox, "bench_runner") if _runs_bench_runner(pid)]


def _describe(pid: int) -> str:
    """pid, parent and command line of a process, for a failing assertion's message."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except OSError:
        return f"{pid}: gone"
    return f"{pid} (parent {ppid}): {argv.strip()}"


def _runs_bench_runner(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg == b"bench_runner" or arg.endswith(b"/bench_runner") for arg in argv[:2])


def test_x86_64_simulator_end_to_end_and_resume(start_phone, tiny_artifacts, options, tmp_path):
    sim = start_phone(profile="x86_64")
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts, options, store_path)
    (outcome,) = outcomes
    assert outcome.error is None and outcome.provenance == "simulator"
    assert [r.status for r in outcome.rows] == ["ok", "ok"]
    assert all(r.summary is not None and r.summary.n == 5 for r in outcome.rows)
    assert all(r.mask == "80" for r in outcome.rows)  # cpu7: the 3.19 GHz core of the profile
    # runner and artifacts went under our folder, named by sha256
    folder = sim.host_path(f"{DEVICE_ROOT}/bench-x86_64")
    assert (folder / "bench_runner").exists() and (folder / "lib").is_dir()
    assert len(list((folder / "models").glob("*.pte"))) == 2
    assert not list(folder.glob(".runner-*.pid"))  # removed after each run

    with Store.open(store_path) as store:
        runs = store.runs()
        assert [r.status for r in runs] == ["ok", "ok"]
        run = runs[0]
        assert run.provenance == "simulator" and run.device_kind == "simulator"
        assert not run.latencies_valid  # simulator timings are host timings
        assert run.core_mask == "80" and run.threads == 1 and run.device_id == sim.serial
        assert run.temp_before_c == pytest.approx(41.2) and run.temp_after_c == pytest.approx(41.2)
        assert run.machine["cooldown"]["reached"] and run.machine["biggest_core"] == 7
        assert run.machine["mode"] == "adb-shell" and run.machine["payload_abi"] == "x86_64"
        assert len(store.samples(run.id)) == 5
        device = store.device(sim.serial)
        assert device is not None and device.metadata["simulator"] is True
        assert device.metadata["core_mask"] == "80"

    text = _render(outcomes)
    assert "provenance simulator" in text and "not a phone" in text
    assert "Pixel 1 paper" in text and "mobilenet_v2_1.0_224" in text

    # a second session skips what is measured, and pushes nothing
    outcomes, messages = _run([sim.serial], tiny_artifacts, options, store_path)
    assert [r.status for r in outcomes[0].rows] == ["skipped", "skipped"]
    assert outcomes[0].rows[0].summary is not None  # the stored samples fill the table
    assert any("2 run(s) already in the store" in m for m in messages)
    assert not any("deploying" in m for m in messages)
    # --force measures again; the runner push is skipped (same sha256 on the device)
    forced = tweak(options, force=True, cleanup=True)
    outcomes, messages = _run([sim.serial], tiny_artifacts, forced, store_path)
    assert [r.status for r in outcomes[0].rows] == ["ok", "ok"]
    assert any("0 file(s) pushed" in m for m in messages)
    assert any("unchanged" in m for m in messages if "artifact" in m)
    assert not sim.host_path(DEVICE_ROOT).exists()  # --cleanup


def test_arm64_bundle_under_qemu_is_a_functional_check(
    start_phone, tiny_artifacts, options, tmp_path, arm64_bundle
):
    sim = start_phone(profile="arm64")
    if not sim.profile.wrapper_available():
        pytest.skip("qemu-aarch64-static is not installed")
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts, options, store_path)
    (outcome,) = outcomes
    assert outcome.error is None and outcome.provenance == "emulated"
    assert [r.status for r in outcome.rows] == ["ok", "ok"], [r.error for r in outcome.rows]
    assert all("output = host's" in r.functional for r in outcome.rows)
    assert all(r.summary is None for r in outcome.rows)  # no latency from qemu
    assert sim.host_path(f"{DEVICE_ROOT}/bench-arm64-v8a/ld-linux-aarch64.so.1").exists()
    with Store.open(store_path) as store:
        for run in store.runs():
            assert run.provenance == "emulated" and not run.latencies_valid
            assert run.load_ms is None and store.samples(run.id) == []
            assert run.output_top1 is not None and run.machine["functional_check"]["ok"]
            assert run.iterations == options.phone.functional_iterations
    text = _render(outcomes)
    assert "FUNCTIONAL check" in text and "qemu" in text


def test_two_devices_at_once(start_phone, tiny_artifacts, options, tmp_path):
    sims = [start_phone(profile="x86_64"), start_phone(profile="x86_64")]
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([s.serial for s in sims], tiny_artifacts, options, store_path)
    assert [o.target for o in outcomes] == [s.serial for s in sims]
    assert all(o.error is None and [r.status for r in o.rows] == ["ok", "ok"] for o in outcomes)
    with Store.open(store_path) as store:
        assert sorted({r.device_id for r in store.runs()}) == sorted(s.serial for s in sims)
        assert len(store.runs(status="ok")) == 4 and store.integrity_ok()
    assert "bench-android" in _render(outcomes)


def _on(text: str, action):
    """A `say` hook that runs `action` once, on the first message containing `text`."""
    done = threading.Event()

    def hook(_serial: str, message: str) -> None:
        if text in message and not done.is_set():
            done.set()
            action()

    return hook


def _chain(*hooks):
    def hook(serial: str, message: str) -> None:
        for h in hooks:
            h(serial, message)

    return hook


def _first_run_error(start_phone, artifacts, options, store_path, when, fault, on, off) -> str:
    """Set simulator fault `fault` to `on` when `when` is reported, back to `off` once the run
    failed; the first artifact's run fails, the next one runs. Returns the failure's reason."""
    sim = start_phone()
    hook = _chain(
        _on(when, lambda: setattr(sim.faults, fault, on)),
        _on("FAILED", lambda: setattr(sim.faults, fault, off)),
    )
    outcomes, _ = _run([sim.serial], artifacts, options, store_path, hook)
    rows = outcomes[0].rows
    assert [r.status for r in rows] == ["failed", "ok"]
    return rows[0].error


def test_faults_mid_run_become_failed_runs_and_the_next_artifact_runs(
    start_phone, tiny_artifacts, options, tmp_path
):
    store_path = tmp_path / "bench.sqlite"

    def first_error(when, fault, on, off, run_options=options):
        return _first_run_error(
            start_phone, tiny_artifacts, run_options, store_path, when, fault, on, off
        )

    # the cable is pulled while the first artifact runs
    assert "disconnected" in first_error("running on mask", "drop_after_bytes", 1, None)
    # the phone stops answering during a run: the run's time-out ends it
    quick = tweak(options, timeout_s=2.0)
    assert "timed out" in first_error("running on mask", "hang_after_bytes", 1, None, quick)
    # the disk fills up before the first artifact is pushed
    assert "no space left" in first_error("runner:", "disk_full", True, False)
    # a storage quota runs out before the first artifact is pushed
    assert "no space left" in first_error("runner:", "quota_bytes", 1, None)

    # a slow, laggy link (Wi-Fi debugging): slower, and nothing fails
    sim = start_phone(faults=Faults(latency_ms=1.0, bandwidth_mb_s=100.0))
    outcomes, _ = _run([sim.serial], tiny_artifacts, options, store_path)
    assert [r.status for r in outcomes[0].rows] == ["ok", "ok"]

    # every failure is stored with its reason; nothing half-written
    with Store.open(store_path) as store:
        failed = store.runs(status="failed")
        assert len(failed) == 4 and all(r.error for r in failed)
        assert all(store.samples(r.id) == [] for r in failed)
        assert store.integrity_ok()


def test_runner_crash_and_timeout(start_phone, tiny_artifacts, options, tmp_path):
    sim = start_phone()
    store_path = tmp_path / "bench.sqlite"
    folder = sim.host_path(f"{DEVICE_ROOT}/bench-x86_64")
    slow = tweak(
        options,
        config=dataclasses.replace(FAST, iterations=10**6, max_iterations=10**6, min_time_s=30.0),
        timeout_s=3.0,
    )

    def crash_first_runner() -> None:
        def kill() -> None:
            for _ in range(200):
                for pid_file in folder.glob(".runner-*.pid"):
                    text = pid_file.read_text().strip()
                    if text:
                        time.sleep(0.3)  # let the runner start
                        os.kill(sim.host_pid(int(text)), signal.SIGSEGV)
                        return
                time.sleep(0.05)

        threading.Thread(target=kill, daemon=True).start()

    outcomes, messages = _run(
        [sim.serial], tiny_artifacts, slow, store_path, _on("running on mask", crash_first_runner)
    )
    rows = outcomes[0].rows
    assert [r.status for r in rows] == ["failed", "failed"]
    assert "crashed (SIGSEGV)" in rows[0].error
    assert "timed out after 3 s" in rows[1].error  # the second one hangs past --timeout
    assert _runners_in(sim.root) == []  # the timed-out runner was killed
    assert outcomes[0].failed


def test_unauthorized_device_is_a_device_error(start_phone, tiny_artifacts, options, tmp_path):
    sim = start_phone(auth="refuse")
    outcomes, _ = _run([sim.serial], tiny_artifacts, options, tmp_path / "bench.sqlite")
    assert outcomes[0].error and "key" in outcomes[0].error and outcomes[0].failed


def test_cooldown_waits_for_a_hot_phone_and_is_bounded(
    start_phone, tiny_artifacts, options, tmp_path
):
    sim = start_phone()
    zone = sim.host_path("/sys/class/thermal/thermal_zone1/temp")  # cpu-1-0-usr
    zone.write_text("82000\n")
    hot = tweak(options, cool_to_c=45.0, cool_max_wait_s=1.0, cool_poll_s=0.2)
    outcomes, messages = _run([sim.serial], tiny_artifacts[:1], hot, tmp_path / "s.sqlite")
    row = outcomes[0].rows[0]
    assert row.status == "ok" and any("NOT reached" in n for n in row.notes)
    with Store.open(tmp_path / "s.sqlite") as store:
        cool = store.runs()[0].machine["cooldown"]
        assert not cool["reached"] and cool["start_c"] == 82.0
        assert 0.9 <= cool["waited_s"] < 3.0

    # the phone cools down after half a second: the wait ends there
    zone.write_text("82000\n")
    cool_later = threading.Timer(0.5, lambda: zone.write_text("40000\n"))
    forced = tweak(hot, force=True, cool_max_wait_s=10.0)
    hook = _on("artifact unchanged", cool_later.start)  # said just before the cooldown starts
    outcomes, messages = _run([sim.serial], tiny_artifacts[:1], forced, tmp_path / "s.sqlite", hook)
    with Store.open(tmp_path / "s.sqlite") as store:
        cool = store.runs()[-1].machine["cooldown"]
        assert cool["reached"] and 0.3 <= cool["waited_s"] < 3.0 and cool["end_c"] == 40.0


def test_kill_runners_kills_only_our_runner(start_phone, device_options):
    sim = start_phone()
    folder = f"{DEVICE_ROOT}/bench-x86_64"
    host_folder = sim.host_path(folder)
    host_folder.mkdir(parents=True)
    fake = host_folder / "bench_runner"
    fake.write_text("#!/system/bin/sh\nsleep 30\n")  # a phone has no /bin/sh
    fake.chmod(0o755)
    device = AndroidDevice.connect(sim.serial, **device_options)
    try:
        # a runner that outlives its shell (as one does on a phone when the cable is pulled);
        # one simple command in the background: mksh (a phone's sh) runs `cd X && cmd &` or
        # `{ ...; } >/dev/null &` in a subshell that keeps the shell's output open (a saved
        # copy of it, for mksh) until the runner ends, so adb would wait for it
        device.shell(
            f"setsid sh -c 'cd {folder} && echo $$ > .runner-x.pid && exec ./bench_runner' "
            "> /dev/null 2>&1 < /dev/null &"
        )
        deadline = time.monotonic() + 15  # toybox's setsid may fork: wait for the runner alone
        while len(_runners_in(sim.root)) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        (host_folder / ".runner-y.pid").write_text("1\n")  # pid 1 is not ours: left alone
        runners = _runners_in(sim.root)
        assert len(runners) == 1, [_describe(pid) for pid in runners]  # say what ran twice
        assert phone.kill_runners(device, DEVICE_ROOT) == 1
        deadline = time.monotonic() + 5
        while _runners_in(sim.root) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _runners_in(sim.root) == [] and not list(host_folder.glob(".runner-*"))
    finally:
        device.close()


def test_app_mode_without_the_app_is_a_failed_run(start_phone, tiny_artifacts, options, tmp_path):
    sim = start_phone()
    missing_apk = tmp_path / "app-release.apk"
    app = tweak(options, mode="app", apk=missing_apk)
    outcomes, _ = _run([sim.serial], tiny_artifacts[:1], app, tmp_path / "s.sqlite")
    (row,) = outcomes[0].rows
    assert row.status == "failed" and row.error
    with Store.open(tmp_path / "s.sqlite") as store:
        (run,) = store.runs()
        assert run.status == "failed" and run.config_key.endswith(";mode=app")


def test_locked_store_prints_the_medians_keeps_the_runs_and_fails(
    start_phone, tiny_pte, tmp_path, capsys, monkeypatch
):
    """Another process holds the store for the whole session: the medians are still printed,
    each run says it was not stored, the CLI exits 2; the kept runs go in afterwards."""
    from bench import store as store_module
    from bench.cli import main
    from tests.bench.test_store import locked_by_another_process

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.5, raising=False)  # raising: old code
    sim = start_phone()
    store = tmp_path / "bench.sqlite"
    Store.open(store).close()
    args = ["bench-android", "--serial", sim.serial, "--store", str(store)]
    args += ["--pte", str(tiny_pte["fp32"]), "--rounds", "1", "--warmup", "1", "--iterations", "5"]
    args += ["--min-time", "0", "--max-time", "0", "--target-precision", "0"]
    args += ["--cool-to", "90", "--cool-max-wait", "1"]
    with locked_by_another_process(store):
        assert main(args) == 2
        out, err = capsys.readouterr()
    err = " ".join(err.split())  # the console wraps long lines
    assert "Traceback" not in err
    assert re.search(r"median [0-9.]+ ms \(n=5, NOT STORED\)", err)
    assert f"NOT STORED in {store}: locked by another process" in err
    assert "1 run(s) measured but NOT STORED" in err  # in the failures listed at the end
    assert "NOT STORED" in out and "FAILED" not in out  # the table keeps the median
    with Store.open(store) as db:
        assert db.runs() == []
        (run_id,) = db.import_unstored()
        assert db.run(run_id).provenance == "simulator" and len(db.samples(run_id)) == 5
