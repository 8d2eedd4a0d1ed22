"""Ctrl-C through `nox -s bench-android`: nox must give our cleanup time to stop the runner.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group: nox and the python it
started both get it. nox's default is to terminate that python 0.3 s later, before it has killed
the runner on the phone; the noxfile gives it CLEANUP_TIMEOUT_S instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.android.test_cli import ROOT, _env
from tests.android.test_session import _runners_in

LONG_RUN = [
    "--rounds",
    "1",
    "--warmup",
    "1",
    "--iterations",
    "5",
    "--min-time",
    "60",
    "--max-time",
    "60",
]
LONG_RUN += ["--target-precision", "0", "--cool-to", "90"]


def test_ctrl_c_through_nox_stops_the_runner_on_the_device(start_phone, tiny_pte, tmp_path):
    sim = start_phone()
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "bench-android"]
    argv += ["--", "--serial", sim.serial, "--store", str(tmp_path / "bench.sqlite"), *LONG_RUN]
    argv += ["--pte", str(tiny_pte["fp32"])]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:  # wait until the runner runs on the phone
            lines.append(line)
            if "running on mask" in line:
                break
        deadline = time.monotonic() + 10
        while not _runners_in(sim.root) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _runners_in(sim.root), "".join(lines)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "no runner left on the device" in output, output
    assert _runners_in(sim.root) == [], output
    assert proc.returncode != 0
