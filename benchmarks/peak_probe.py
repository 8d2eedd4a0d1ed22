"""Does the peak probe repeat? Three independent measurements of the host's peak MAC rate per
precision (each: --rounds fresh runner processes of the probe, median of round medians), and
their spread: max/min - 1 (the acceptance bar is 5%).

    .nox/ml/bin/python benchmarks/peak_probe.py --probes /tmp/probes --rounds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=Path, default=Path(tempfile.gettempdir()) / "probes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    args = parser.parse_args()
    from bench.profile.peak import ensure_probes, measure_peak
    from bench.runner import build
    from bench.runner.run import RunnerConfig
    from bench.targets.host import HostTarget, cpu_model, int8_dot_features

    target = HostTarget(args.core, build.build_host())
    device = target.open()
    config = RunnerConfig(
        warmup=10, iterations=30, min_time_s=2.0, max_time_s=30.0, target_precision=0.01
    )  # bench-host's defaults
    print(
        f"{cpu_model()} (int8 dot product: {', '.join(int8_dot_features()) or 'none'}), "
        f"core {args.core}, 1 thread; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs (a busy machine makes these rough)"
    )
    for precision, probe in ensure_probes(args.probes).items():
        figures = [
            measure_peak(target, probe, config, device_id=device.id, rounds=args.rounds).gmacs
            for _ in range(args.repeats)
        ]
        spread = max(figures) / min(figures) - 1
        print(
            f"{precision}: "
            + ", ".join(f"{g:.1f}" for g in figures)
            + f" GMAC/s; spread {spread:.1%} ({'within' if spread <= 0.05 else 'NOT within'} 5%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
