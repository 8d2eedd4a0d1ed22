"""Push throughput of our device layer vs Debian's official `adb`, on the ADB simulator, in one run.

    python benchmarks/adb_push_throughput.py [--size-mb 64] [--repeats 3] [--latency-ms 0]

The simulated phone runs in a child process on 127.0.0.1 (its own GIL), the official client
goes through a private adb server (own HOME and server port). Each client pushes the same
random file `--repeats` times to a fresh name; the best transfer time counts. "transfer" is the
sync transfer alone (adb's own figure for adb); "verified" is our whole `push()`: local sha256,
skip check, transfer, size+sha256 check on the device. adb-shell as shipped is shown for reference.
Figures are for this simulator on this host, not for a phone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.devices.android import AndroidDevice  # noqa: E402
from deploy.devices.keys import ensure_key  # noqa: E402
from deploy.devices.simulator import Faults, start_simulator_process  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _median_ms(run: Callable[[], object], times: int = 15) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def ours(serial: str, key: Path, source: Path, repeats: int) -> tuple[float, float, float]:
    """(best transfer s, best verified-push s, median `shell('true')` ms) with our layer."""
    best_transfer = best_total = float("inf")
    with AndroidDevice.connect(serial, key_path=key, notify=lambda _m: None) as device:
        for i in range(repeats):
            start = time.perf_counter()
            result = device.push(source, f"bench/ours-{i}.bin")
            best_total = min(best_total, time.perf_counter() - start)
            best_transfer = min(best_transfer, result.seconds)
        device.cleanup()
        shell_ms = _median_ms(lambda: device.shell("true"))
    return best_transfer, best_total, shell_ms


def adb_shell_as_shipped(port: int, key: Path, source: Path, repeats: int) -> tuple[float, float]:
    """(best push s, median `shell('true')` ms) with adb-shell's own TCP transport and push()."""
    from adb_shell.adb_device import AdbDeviceTcp
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    device = AdbDeviceTcp("127.0.0.1", port)
    device.connect(rsa_keys=[PythonRSASigner.FromRSAKeyPath(str(key))], auth_timeout_s=10)
    best = float("inf")
    try:
        for i in range(repeats):
            start = time.perf_counter()
            device.push(str(source), f"/data/local/tmp/bench-adbshell-{i}.bin", read_timeout_s=120)
            best = min(best, time.perf_counter() - start)
        device.shell("rm -f /data/local/tmp/bench-adbshell-*")
        shell_ms = _median_ms(lambda: device.shell("true"))
    finally:
        device.close()
    return best, shell_ms


def official(adb: str, serial: str, source: Path, repeats: int) -> tuple[float, float]:
    """(best transfer seconds as adb reports it, best wall seconds of `adb push`)."""
    home = Path(tempfile.mkdtemp(prefix="adb-bench-home-"))
    env = dict(os.environ, HOME=str(home), ANDROID_ADB_SERVER_PORT=str(_free_port()))
    env.pop("ANDROID_SERIAL", None)

    def run(*args: str) -> str:
        done = subprocess.run([adb, *args], env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(
                f"adb {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    best_transfer = best_wall = float("inf")
    try:
        run("connect", serial)
        run("-s", serial, "wait-for-device")
        for i in range(repeats):
            start = time.perf_counter()
            out = run("-s", serial, "push", str(source), f"/data/local/tmp/bench-adb-{i}.bin")
            best_wall = min(best_wall, time.perf_counter() - start)
            match = re.search(r"bytes in ([0-9.]+)s", out)
            if match:
                best_transfer = min(best_transfer, float(match.group(1)))
        run("-s", serial, "shell", "rm -f /data/local/tmp/bench-adb-*")
    finally:
        subprocess.run([adb, "kill-server"], env=env, capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    return best_transfer, best_wall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=64.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="simulated link latency per packet"
    )
    parser.add_argument("--bandwidth-mb-s", type=float, help="simulated link speed cap")
    parser.add_argument(
        "--skip-adb-shell", action="store_true", help="leave out adb-shell as shipped"
    )
    args = parser.parse_args()

    adb = shutil.which("adb")
    if adb is None:
        print("error: the official client is missing: apt-get install adb", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="adb-bench-"))
    try:
        key = ensure_key(work / "adbkey")
        source = work / "payload.bin"
        size = int(args.size_mb * 1e6)
        source.write_bytes(os.urandom(size))
        faults = Faults(latency_ms=args.latency_ms, bandwidth_mb_s=args.bandwidth_mb_s)
        with start_simulator_process(faults=faults) as phone:
            ours_transfer, ours_total, ours_shell_ms = ours(phone.serial, key, source, args.repeats)
            adb_transfer, adb_wall = official(adb, phone.serial, source, args.repeats)
            shipped = (
                None
                if args.skip_adb_shell
                else adb_shell_as_shipped(phone.port, key, source, args.repeats)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def rate(seconds: float) -> str:
        return f"{size / seconds / 1e6:8.1f} MB/s  ({seconds * 1000:7.1f} ms)"

    print(f"push of {size / 1e6:.0f} MB to the ADB simulator on 127.0.0.1, best of {args.repeats}")
    print(f"  faults: {faults.describe()}")
    print(f"  ours, transfer          {rate(ours_transfer)}")
    print(f"  ours, verified push     {rate(ours_total)}")
    print(f"  official adb, transfer  {rate(adb_transfer)}")
    print(f"  official adb, wall      {rate(adb_wall)}")
    if shipped is not None:
        print(f"  adb-shell as shipped    {rate(shipped[0])}")
    shipped_ms = f", adb-shell as shipped {shipped[1]:.1f} ms" if shipped else ""
    print(f"shell('true') median: ours {ours_shell_ms:.1f} ms{shipped_ms}")
    print(f"ratio ours/official (transfer): {adb_transfer / ours_transfer:.2f}")
    print(f"ratio ours/official (verified push vs adb wall): {adb_wall / ours_total:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
