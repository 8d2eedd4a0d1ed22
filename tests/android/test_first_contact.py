"""bench-android on phones that say no: temperatures refused (cool-down becomes a fixed pause,
stored `thermal: unavailable`) or read through dumpsys, an offline big core (the next core, and
why), a check that fails (nothing measured), the checks cached per device; and the pure parts
(the fixed pause, taskset's refusal named)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from bench.android import phone
from bench.errors import RunnerError
from bench.store import Store
from deploy.devices.simulator import get_profile
from tests.android.test_session import _on, _run
from tests.conftest import require_command

PAUSE = "cool-down cannot see temperatures on this phone: using a fixed 0.3 s pause"


def test_no_temperature_warns_once_pauses_and_stores_unavailable(
    start_phone, tiny_artifacts, options, tmp_path
):
    sim = start_phone(profile="android14-no-temperature")
    blind = dataclasses.replace(options, phone=dataclasses.replace(options.phone, cool_pause_s=0.3))
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts, blind, store_path)
    (outcome,) = outcomes
    assert outcome.error is None and [r.status for r in outcome.rows] == ["ok", "ok"]
    warned = [m for m in messages if PAUSE in m]
    assert len(warned) == 1 and "warning: temperature: " in warned[0]  # one per device
    assert sum(PAUSE in w for w in outcome.warnings) == 1
    with Store.open(store_path) as store:
        for run in store.runs():
            cool = run.machine["cooldown"]
            assert run.machine["thermal"] == "unavailable" and cool["thermal"] == "unavailable"
            assert cool["reached"] is None  # never "reached": nothing was measured
            assert 0.25 <= cool["waited_s"] < 2.0  # the fixed pause, not 0 s
            assert run.temp_before_c is None and run.temp_after_c is None
        device = store.device(sim.serial)
        assert device is not None and device.metadata["thermal"] == "unavailable"


def test_refused_sysfs_is_read_through_dumpsys_and_cool_down_works(
    start_phone, tiny_artifacts, options, tmp_path
):
    sim = start_phone(profile="android14-thermal-denied")
    sim.set_temperature("cpu-1-0-usr", 82.0)
    hot = dataclasses.replace(
        options,
        phone=dataclasses.replace(
            options.phone, cool_to_c=45.0, cool_max_wait_s=10.0, cool_poll_s=0.2
        ),
    )
    cool_later = threading.Timer(0.5, lambda: sim.set_temperature("cpu-1-0-usr", 40.0))
    hook = _on("artifact pushed", cool_later.start)  # said just before the cooldown starts
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts[:1], hot, store_path, hook)
    assert [r.status for r in outcomes[0].rows] == ["ok"]
    assert any("check: pass  temperature through dumpsys thermalservice" in m for m in messages)
    with Store.open(store_path) as store:
        (run,) = store.runs()
        assert run.machine["thermal"] == "thermalservice"
        cool = run.machine["cooldown"]
        assert cool["start_c"] == 82.0 and cool["end_c"] == 40.0 and cool["reached"]
        assert 0.3 <= cool["waited_s"] < 5.0
        assert run.temp_before_c == 40.0


def test_offline_big_core_runs_on_the_next_and_says_why(
    start_phone, tiny_artifacts, options, tmp_path
):
    sim = start_phone(profile="android9-offline-big-core")
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts, options, store_path)
    (outcome,) = outcomes
    assert outcome.error is None and [r.status for r in outcome.rows] == ["ok", "ok"]
    assert all(r.mask == "40" for r in outcome.rows)
    said = "cpu6 (2.50 GHz), the fastest core taskset can use: cpu7 (3.19 GHz) is offline"
    assert any(said in w for w in outcome.warnings)
    assert any(f"warning: big core: {said}" in m for m in messages)
    with Store.open(store_path) as store:
        for run in store.runs():
            assert run.core_mask == "40" and run.machine["biggest_core"] == 6
            assert run.machine["online_cpus"] == [0, 1, 2, 3, 4, 5, 6]
            assert said in run.machine["core_choice"]


def test_a_failed_check_refuses_to_measure(start_phone, tiny_artifacts, options, tmp_path):
    # no core the shell may pin to (its cpuset is empty): taskset could never run the runner
    fenced = dataclasses.replace(get_profile("x86_64"), allowed_cpus=())
    sim = start_phone(profile=fenced)
    store_path = tmp_path / "bench.sqlite"
    outcomes, messages = _run([sim.serial], tiny_artifacts, options, store_path)
    (outcome,) = outcomes
    assert outcome.error and outcome.error.startswith("refusing to measure: fail  big core")
    assert outcome.rows == [] and outcome.failed
    assert not any("deploying" in m for m in messages)
    with Store.open(store_path) as store:
        assert store.runs() == []


def test_a_runner_that_cannot_start_is_caught_before_measuring(
    start_phone, tiny_artifacts, options, tmp_path, arm64_bundle
):
    # the arm64 bundle on a phone that cannot run arm64 code (no qemu): its loader fails
    native = dataclasses.replace(get_profile("arm64"), exec_wrapper=())
    sim = start_phone(profile=native)
    outcomes, _messages = _run([sim.serial], tiny_artifacts[:1], options, tmp_path / "s.sqlite")
    error = outcomes[0].error or ""
    assert error.startswith("refusing to measure: fail  runner")
    assert "./ld-linux-aarch64.so.1 --library-path ./lib ./bench_runner --help` failed" in error
    assert outcomes[0].rows == []


def test_checks_are_cached_per_device(start_phone, tiny_artifacts, options, tmp_path):
    sim = start_phone()
    cached = dataclasses.replace(
        options, phone=dataclasses.replace(options.phone, check_cache=tmp_path / "checks.json")
    )
    store_path = tmp_path / "bench.sqlite"
    _outcomes, first = _run([sim.serial], tiny_artifacts[:1], cached, store_path)
    assert any(
        m.endswith(
            "check: pass  runner      the x86_64 runner: `./bench_runner --help` "
            "ran pinned (exit 2, its usage printed)"
        )
        for m in first
    )
    assert (tmp_path / "checks.json").exists()
    forced = dataclasses.replace(cached, force=True)
    _outcomes, second = _run([sim.serial], tiny_artifacts[:1], forced, store_path)
    assert any("check (cached): pass  runner" in m for m in second)
    assert any("check (cached): pass  tmp" in m for m in second)
    assert any("check: pass  temperature" in m for m in second)  # facts are read again


# -- pure parts ----------------------------------------------------------------------------------


def test_cooldown_without_a_temperature_is_a_fixed_pause_never_reached():
    now = [0.0]

    def wait(seconds: float) -> bool:
        now[0] += seconds
        return False

    blind = phone.cooldown(lambda: None, 45.0, 120.0, wait=wait, clock=lambda: now[0], pause_s=30)
    assert (blind.thermal, blind.reached, blind.waited_s) == ("unavailable", None, 30.0)
    assert blind.describe() == "no temperature readable: paused 30 s"
    assert blind.as_dict()["thermal"] == "unavailable" and not blind.noteworthy


def test_taskset_refusing_the_mask_is_named():
    output = "taskset: failed to set pid 1234's affinity: Invalid argument\n"
    with pytest.raises(RunnerError, match=r"taskset refused mask 80 on m \(taskset: failed"):
        phone.parse_run(1, output, "m", "80")
    with pytest.raises(RunnerError, match="offline or outside the shell's allowed CPUs"):
        phone.parse_run(1, output, "m", "80")


def test_toolbox_grep_kills_runners_on_android_9(start_phone, device_options):
    """kill_runners' `grep -q` works with Android 8-10's grep (BSD grep from toolbox)."""
    require_command("toybox")
    from tests.android.test_session import test_kill_runners_kills_only_our_runner

    def android9(**kwargs):
        return start_phone(profile="android9-offline-big-core", **kwargs)

    test_kill_runners_kills_only_our_runner(android9, device_options)
