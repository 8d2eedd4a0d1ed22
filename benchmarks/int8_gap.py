"""The project's own int8 gap, profiled: our XNNPACK programs (fp32, int8) layer by layer on this
host beside ONNX Runtime's session profile of the same models (fp32, QDQ int8), one thread.

For every manifest model: one ETDump profiling round of each .pte (`bench.profile`), the peak
probe of each precision (`deploy.export.probe`, timed here), and ORT's per-node profile
(`SessionOptions.enable_profiling`) of the peer files `bench.peers.prepare` makes. Prints per
model the time by op class (conv kxk, depthwise, 1x1 conv, linear, other) for the four, then the
closing note: the 5 layers furthest from peak (by time lost against the peak), the fraction of
time outside the delegate, and every layer where int8 is slower than fp32.

    .nox/ml/bin/python benchmarks/int8_gap.py --manifest artifacts/manifest.json \
        --probes /tmp/probes --iterations 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLASSES = ("conv kxk", "dwconv", "conv 1x1", "linear", "other")


def our_class(row: Any) -> str:
    if row.op == "dwconv":
        return "dwconv"
    if row.op == "linear":
        return "linear"
    if row.op == "conv":
        return "conv 1x1" if row.kernel == 1 else "conv kxk"
    return "other"


def ort_class(event: dict[str, Any]) -> str:
    """Conv / QLinearConv by their weight's shape; Gemm/MatMul linear; everything else other."""
    args = event.get("args", {})
    op = args.get("op_name", "")
    if op in ("Gemm", "MatMul", "QGemm", "MatMulInteger", "QLinearMatMul"):
        return "linear"
    if op in CONV_OPS:
        shapes = [next(iter(s.values())) for s in args.get("input_type_shape", []) if s]
        weight = shapes[1] if len(shapes) > 1 else []
        if len(weight) == 4 and weight[1] == 1 and weight[0] > 1:
            return "dwconv"
        return "conv 1x1" if weight and weight[-1] == 1 else "conv kxk"
    return "other"


CONV_OPS = ("Conv", "QLinearConv", "FusedConv", "NhwcFusedConv", "QLinearConvNhwc")


def ort_profile(
    path: Path, image: Any, iterations: int, conv_classes: list[str]
) -> dict[str, float]:
    """ms per inference by class: median over iterations of each node's time, summed. ORT's
    NHWC int8 convolutions carry pre-packed weights (no shape in the profile), so the k-th
    convolution node takes the class of our k-th convolution (`conv_classes`, execution order)
    when the counts agree."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: image}
        for _ in range(5 + iterations):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    classes: dict[str, str] = {}
    runs: list[float] = []
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[e["name"]].append(e["dur"] / 1000.0)
            classes[e["name"]] = ort_class(e)
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs.append(e["dur"] / 1000.0)
    convs = [n for n in per_node if classes[n] in ("conv kxk", "dwconv", "conv 1x1")]
    if len(convs) == len(conv_classes):
        classes.update(zip(convs, conv_classes, strict=True))
    out = dict.fromkeys(CLASSES, 0.0)
    for name, values in per_node.items():
        out[classes[name]] += statistics.median(values[5:] or values)
    out["total (model_run)"] = statistics.median(runs[5:] or runs)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path, default=ROOT / "artifacts" / "manifest.json")
    parser.add_argument("--probes", type=Path, default=Path(tempfile.gettempdir()) / "probes")
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    args = parser.parse_args()

    import numpy as np

    from bench import options
    from bench.profile.peak import ensure_probes, measure_peak
    from bench.profile.record import build_profile, profiling_config
    from bench.runner import build
    from bench.runner.run import RunnerConfig, run_host
    from bench.targets.host import HostTarget, cpu_model, int8_dot_features
    from deploy.models import parse_model_name

    runner = build.build_host()
    target = HostTarget(args.core, runner)
    device = target.open()
    timed = RunnerConfig(
        warmup=10, iterations=30, min_time_s=2.0, max_time_s=30.0, target_precision=0.01
    )
    peaks = {}
    for precision, probe in ensure_probes(args.probes).items():
        peaks[precision] = measure_peak(target, probe, timed, device_id=device.id, rounds=3).gmacs
    print(
        f"host: {cpu_model()}, int8 dot product: {', '.join(int8_dot_features()) or 'none'};"
        f" core {args.core}, 1 thread; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs (a busy machine makes these rough)"
    )
    print("peaks (probe, 3 rounds): " + ", ".join(f"{p} {g:.1f} GMAC/s" for p, g in peaks.items()))

    artifacts = options.manifest_artifacts(args.manifest, options.names(args.models))
    profiles: dict[tuple[str, str], Any] = {}
    config = profiling_config(RunnerConfig(warmup=10), args.iterations)
    for art in artifacts:
        with tempfile.TemporaryDirectory() as tmp:
            etdump = Path(tmp) / "p.etdp"
            run_host(runner, art.path, config, core=args.core, etdump_file=etdump)
            record, mapped = build_profile(
                etdump,
                art.path,
                device_id=device.id,
                artifact_sha256=art.record.sha256,
                provenance="host",
                session_id=None,
                config=config,
            )
        profiles[(art.record.model, art.record.precision)] = (record, mapped)

    from bench.peers.prepare import prepare

    lost: list[tuple[float, str]] = []
    slower: list[str] = []
    outside: list[str] = []
    for model in dict.fromkeys(a.record.model for a in artifacts):
        peer = prepare(parse_model_name(model), log=lambda t: print(t, file=sys.stderr))
        image = np.fromfile(peer.input_file, dtype=np.float32).reshape(peer.input_shape)
        key = (model, "fp32") if (model, "fp32") in profiles else (model, "int8")
        ours_convs = [
            our_class(r)
            for r in profiles[key][0].layers
            if r.op in ("conv", "dwconv") and r.kernel is not None
        ]
        ort = {
            p: ort_profile(peer.file_for(f"ort-{p}"), image, args.iterations, ours_convs)
            for p in ("fp32", "int8")
        }
        ours = {}
        for precision in ("fp32", "int8"):
            if (model, precision) not in profiles:
                continue
            record, mapped = profiles[(model, precision)]
            by = dict.fromkeys(CLASSES, 0.0)
            for row in record.layers:
                if row.op != "overhead":
                    by[our_class(row)] += row.time_ms
            by["total (model_run)"] = mapped.execute_ms
            ours[precision] = by
            outside.append(
                f"{model} {precision}: {mapped.outside_fraction:.1%} outside the "
                f"delegate ({mapped.execute_ms - mapped.delegate_ms:.3f} ms of "
                f"{mapped.execute_ms:.3f})"
            )
            for row in record.layers:
                if row.madds and row.time_ms >= 0.005:
                    ideal = row.madds / (peaks[precision] * 1e6)
                    rate = row.madds / row.time_ms / 1e6
                    lost.append(
                        (
                            row.time_ms - ideal,
                            f"{model} {precision} #{row.idx} "
                            f"{row.name}: {row.time_ms:.3f} ms, {rate:.1f} GMAC/s = "
                            f"{rate / peaks[precision]:.0%} of peak",
                        )
                    )
        print(
            f"\n{model}: ms per inference by op class (ours: ETDump operator medians; ORT: "
            "node medians), one thread"
        )
        cols = [
            ("ET fp32", ours.get("fp32")),
            ("ET int8", ours.get("int8")),
            ("ORT fp32", ort["fp32"]),
            ("ORT int8", ort["int8"]),
        ]
        print(f"  {'class':18s}" + "".join(f"{c:>10s}" for c, _ in cols) + "  ET/ORT int8")
        for cls in (*CLASSES, "total (model_run)"):
            values = [(v or {}).get(cls, 0.0) for _, v in cols]
            ratio = values[1] / values[3] if values[3] else float("nan")
            print(f"  {cls:18s}" + "".join(f"{v:10.3f}" for v in values) + f"  {ratio:8.2f}")
        if (model, "fp32") in profiles and (model, "int8") in profiles:
            f32 = [r for r in profiles[(model, "fp32")][0].layers if r.madds]
            i8 = [r for r in profiles[(model, "int8")][0].layers if r.madds]
            for a, b in zip(f32, i8, strict=False):
                if b.time_ms > a.time_ms + 0.002:  # beyond XNNPACK's 1 us resolution
                    slower.append(
                        f"{model} {b.name} (int8 #{b.idx}): int8 {b.time_ms:.3f} ms "
                        f"> fp32 {a.time_ms:.3f} ms"
                    )
    print("\nsummary (this host, one thread; XNNPACK op times are whole microseconds)")
    print("5 layers furthest from peak (most time lost against the probe's rate):")
    for _, line in sorted(lost, reverse=True)[:5]:
        print(f"  {line}")
    print("time outside the delegate:")
    for line in outside:
        print(f"  {line}")
    print("layers where int8 is slower than fp32:" + ("" if slower else " none"))
    for line in slower:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    from deploy import quiet

    with quiet.installed():  # torchao/ExecuTorch start-up chatter, as in the commands
        sys.exit(main())
