"""The peak probe: a calibration program that measures how many MACs per second a core reaches.

A stack of large 1x1 convolutions (default 8 x 256->256 channels on 28 x 28: 411M MAdds),
lowered like the real recipes (`xnnpack-fp32`, `xnnpack-int8` from `deploy.export.recipes`), so
its rate is what XNNPACK's best kernel reaches on that core and precision. The stack amortises
the input and output layout changes (and int8's quantize/dequantize) over eight layers. Probes
live in their own folder with their own manifest (`probes.json`), never among the models:

    export_probes(Path("artifacts/probes"))  -> [Probe(precision="fp32", ...), ...]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROBE_MANIFEST = "probes.json"
SCHEMA_VERSION = 1
PROBE_RECIPES = ("xnnpack-fp32", "xnnpack-int8")


@dataclass(frozen=True)
class ProbeShape:
    """The stack's geometry: `layers` 1x1 convolutions of `channels` -> `channels` on size^2."""

    layers: int = 8
    channels: int = 256
    size: int = 28

    @property
    def madds(self) -> int:
        return self.layers * self.size * self.size * self.channels * self.channels

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.channels, self.size, self.size)


@dataclass(frozen=True)
class Probe:
    """One exported probe, as its manifest records it."""

    precision: str
    recipe: str
    file: str  # relative to the probes folder
    sha256: str
    madds: int
    input_shape: tuple[int, ...]
    shape: dict[str, int]
    executorch: str

    @property
    def name(self) -> str:
        s = self.shape
        return f"peak-probe:{s['layers']}x-conv1x1-{s['channels']}ch-{s['size']}px"


def probe_module(shape: ProbeShape) -> Any:
    """The float model: `layers` bias-free 1x1 convolutions, seeded weights."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = [nn.Conv2d(shape.channels, shape.channels, 1, bias=False) for _ in range(shape.layers)]
    return nn.Sequential(*layers).eval()


def _toolchain() -> str:
    import importlib.metadata

    return importlib.metadata.version("executorch")


def read_probes(folder: Path) -> list[Probe]:
    """The probes recorded in `folder`'s manifest (empty when there is none or it is stale)."""
    path = Path(folder) / PROBE_MANIFEST
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        return []
    probes = []
    for item in document.get("probes", []):
        try:
            probe = Probe(**{**item, "input_shape": tuple(item["input_shape"])})
        except (TypeError, KeyError):
            return []
        file = Path(folder) / probe.file
        if Path(probe.file).name != probe.file or not file.is_file():
            return []
        probes.append(probe)
    return probes


def export_probes(
    folder: Path, shape: ProbeShape | None = None, force: bool = False
) -> list[Probe]:
    """The fp32 and int8 probes in `folder` (exported once per shape and executorch version)."""
    import torch

    from deploy.export.recipes import get_recipe
    from deploy.export.xnnpack import lower

    shape = shape or ProbeShape()
    folder = Path(folder)
    version = _toolchain()
    found = read_probes(folder)
    if (
        not force
        and found
        and all(p.shape == asdict(shape) and p.executorch == version for p in found)
    ):
        return found
    folder.mkdir(parents=True, exist_ok=True)
    module = probe_module(shape)
    generator = torch.Generator().manual_seed(1)
    example = torch.randn(shape.input_shape, generator=generator)
    calibration = torch.randn((8, *shape.input_shape[1:]), generator=generator)
    probes = []
    for name in PROBE_RECIPES:
        recipe = get_recipe(name)
        lowered = lower(module, recipe, example, calibration if recipe.needs_calibration else None)
        sha = hashlib.sha256(lowered.data).hexdigest()
        file = f"peak-probe_{recipe.name}_{sha[:12]}.pte"
        (folder / file).write_bytes(lowered.data)
        probes.append(
            Probe(
                recipe.precision,
                recipe.name,
                file,
                sha,
                shape.madds,
                shape.input_shape,
                asdict(shape),
                version,
            )
        )
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "peak-probe",
        "probes": [{**asdict(p), "input_shape": list(p.input_shape)} for p in probes],
    }
    temp = folder / f".{PROBE_MANIFEST}.tmp"
    temp.write_text(json.dumps(document, indent=1) + "\n")
    temp.replace(folder / PROBE_MANIFEST)
    return probes
