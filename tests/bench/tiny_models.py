"""Tiny conv nets exported to .pte (fp32 and int8, XNNPACK) for the runner tests.

Small enough to export in seconds and to run under qemu in well under a second per iteration.
"""

from __future__ import annotations

from pathlib import Path

INPUT_SHAPE = (1, 3, 32, 32)
NUM_CLASSES = 10


def _net():
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),
        nn.ReLU6(),
        nn.Conv2d(16, 32, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, NUM_CLASSES),
    )
    return net.eval()


def export_tiny(out: Path, precision: str = "fp32") -> Path:
    """Write the tiny net as an XNNPACK-delegated .pte (`fp32` or `int8` PT2E) to `out`."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    net = _net()
    example = (torch.rand(*INPUT_SHAPE) * 2 - 1,)
    if precision == "int8":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config())
        graph = torch.export.export(net, example).module()
        prepared = prepare_pt2e(graph, quantizer)
        gen = torch.Generator().manual_seed(1)
        for _ in range(8):
            prepared(torch.rand(*INPUT_SHAPE, generator=gen) * 2 - 1)
        net = convert_pt2e(prepared)
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    program = to_edge_transform_and_lower(
        torch.export.export(net, example), partitioner=[XnnpackPartitioner()]
    ).to_executorch()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(program.buffer)
    return out


if __name__ == "__main__":
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/tiny")
    for p in ("fp32", "int8"):
        print(export_tiny(folder / f"tiny_{p}.pte", p))
