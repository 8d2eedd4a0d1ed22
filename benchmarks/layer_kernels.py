"""Throughput of single MobileNet layers, ExecuTorch-XNNPACK against ONNX Runtime, fp32 and int8.

bench-peers shows our int8 programs behind ONNX Runtime's on this host, and the ETDump profile
puts the time in the convolutions themselves. This isolates them: each layer (a 1x1 or a
depthwise 3x3 convolution + ReLU, at MobileNetV1 shapes), stacked REPEAT times so the layout
conversions at the program's edges (both runtimes make them) weigh little, becomes its own
program, exported the
way the zoo is (`deploy.export.xnnpack.lower` with the xnnpack-fp32 / xnnpack-int8 recipes; ORT
files with bench-peers' own ONNX export and static QDQ quantization), and is timed in CPU time
per inference (benchmarks/peers_cpu_time.py's method: robust to a shared machine), pinned, one
thread, contenders interleaved over --rounds.

It prints GMAC/s per layer and runtime, the int8-over-fp32 speed-up of each runtime, and ours
over ORT for int8. A kernel gap shows as ET int8 GMAC/s near ET fp32 while ORT int8 is well
above both. The CPU's integer dot-product features (avx_vnni / avx512_vnni) are printed, as
they decide which int8 kernels XNNPACK picks.

    python benchmarks/layer_kernels.py [--rounds 3] [--layers pw14 dw56]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peers_cpu_time import argv_for, cpu_seconds  # noqa: E402

REPEAT = 4


@dataclass(frozen=True)
class Layer:
    name: str
    channels: int  # in = out, so the layer stacks
    size: int  # input height = width
    depthwise: bool = False

    @property
    def macs(self) -> int:
        per_pixel = 9 if self.depthwise else self.channels
        return REPEAT * self.size * self.size * self.channels * per_pixel

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (1, self.channels, self.size, self.size)

    def module(self):  # type: ignore[no-untyped-def]
        import torch

        c = self.channels
        layers: list[torch.nn.Module] = []
        for _ in range(REPEAT):
            if self.depthwise:
                layers.append(torch.nn.Conv2d(c, c, 3, padding=1, groups=c))
            else:
                layers.append(torch.nn.Conv2d(c, c, 1))
            layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers).eval()


# MobileNetV1 (paper Table 1) pointwise and depthwise layers at 224 whose input and output
# widths agree.
LAYERS = {
    layer.name: layer
    for layer in (
        Layer("pw56", 128, 56),
        Layer("pw28", 256, 28),
        Layer("pw14", 512, 14),
        Layer("pw7", 1024, 7),
        Layer("dw112", 64, 112, depthwise=True),
        Layer("dw56", 128, 56, depthwise=True),
        Layer("dw28", 256, 28, depthwise=True),
        Layer("dw14", 512, 14, depthwise=True),
    )
}
CONTENDERS = ("et-fp32", "et-int8", "ort-fp32", "ort-int8")


def cpu_features() -> str:
    flags: set[str] = set()
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
                break
    wanted = ("avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "amx_int8")
    return " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)


def make_files(layer: Layer, folder: Path) -> dict[str, Path]:
    """The layer as .pte (fp32, int8) and .onnx (fp32, int8), and its input as raw float32."""
    import torch

    from bench.peers.prepare import export_onnx, quantize_onnx
    from deploy.export.recipes import get_recipe
    from deploy.export.xnnpack import lower

    torch.manual_seed(0)
    module = layer.module()
    calibration = torch.randn(16, *layer.shape[1:])
    example = calibration[:1].contiguous()
    files = {"input": folder / f"{layer.name}.bin"}
    example.numpy().tofile(files["input"])
    for precision in ("fp32", "int8"):
        recipe = get_recipe(f"xnnpack-{precision}")
        lowered = lower(module, recipe, example, calibration if precision == "int8" else None)
        files[f"et-{precision}"] = folder / f"{layer.name}-{precision}.pte"
        lowered.write(files[f"et-{precision}"])
    files["ort-fp32"] = folder / f"{layer.name}-fp32.onnx"
    export_onnx(module, example, files["ort-fp32"])
    files["ort-int8"] = folder / f"{layer.name}-int8.onnx"
    quantize_onnx(files["ort-fp32"], files["ort-int8"], calibration)
    return files


def ms_per_inference(contender: str, files: dict[str, Path], layer: Layer, args) -> float:  # type: ignore[no-untyped-def]
    kind = "pte" if contender.startswith("et-") else "onnx"
    options = argparse.Namespace(
        input_file=str(files["input"]), shape=",".join(map(str, layer.shape))
    )
    a = cpu_seconds(argv_for(kind, str(files[contender]), args.n1, options, args.core))
    b = cpu_seconds(argv_for(kind, str(files[contender]), args.n2, options, args.core))
    return (b - a) / (args.n2 - args.n1) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n1", type=int, default=20)
    parser.add_argument("--n2", type=int, default=220)
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    args = parser.parse_args()
    print(f"CPU features: {cpu_features()}", flush=True)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="layer-kernels-") as tmp:
        for name in args.layers:
            layer = LAYERS[name]
            files = make_files(layer, Path(tmp))
            per_round: dict[str, list[float]] = {c: [] for c in CONTENDERS}
            for _ in range(args.rounds):
                for contender in CONTENDERS:
                    per_round[contender].append(ms_per_inference(contender, files, layer, args))
            results[name] = {c: statistics.median(v) for c, v in per_round.items()}
            row = results[name]
            print(f"{name}: " + "  ".join(f"{c} {row[c]:.3f} ms" for c in CONTENDERS), flush=True)

    head = f"{'layer':7} {'MMAC':>6} " + " ".join(f"{c:>9}" for c in CONTENDERS)
    head += f" {'ET i8/f32':>10} {'ORT i8/f32':>11} {'ET/ORT i8':>10}"
    print("\nGMAC/s (CPU time, median over rounds); speed-ups are fp32 time / int8 time")
    print(head)
    for name, row in results.items():
        layer = LAYERS[name]
        rates = " ".join(f"{layer.macs / row[c] / 1e6:9.1f}" for c in CONTENDERS)
        print(
            f"{name:7} {layer.macs / 1e6:6.1f} {rates}"
            f" {row['et-fp32'] / row['et-int8']:9.2f}x {row['ort-fp32'] / row['ort-int8']:10.2f}x"
            f" {row['et-int8'] / row['ort-int8']:9.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
