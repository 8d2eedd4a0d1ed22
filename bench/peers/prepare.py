"""The peers' inputs for one model: its weights, its ONNX fp32 and int8 files, the input image.

Everything is made from `deploy.models.build_model(spec)` (the same module our export lowers:
seeded random weights with BatchNorm re-estimated on real photographs, or a checkpoint) and the
same images as the export pipeline: int8 calibration over the kept part of
`deploy.images.load_images(folder, resolution).split()`, and the first held-out image as the one
input every runtime is timed on.

Files land in `build/peers/<model>-<key>/`, where the key hashes the weights, the images and the
toolchain versions: a rerun with nothing changed costs one model build, no ONNX export.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import PeerError
from deploy.artifacts.hashing import sha256_file

PEERS_ROOT = Path("build") / "peers"
# Bump when what prepare() makes changes (export options, quantization options).
PREPARE_VERSION = 1
ONNX_OPSET = 18
INPUT_NAME = "image"


@dataclass(frozen=True)
class PeerModels:
    """What the peer runtimes load for one model, and what it is."""

    model: str
    family: str
    width: float
    resolution: int
    weights_source: str
    params: int
    madds: int
    folder: Path
    state_dict: Path  # torch.save({"family", "width", "num_classes", "state_dict"}) for eager
    onnx_fp32: Path
    onnx_int8: Path
    input_file: Path  # float32 NCHW raw bytes, 1 image
    input_sha256: str
    calibration_count: int

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.resolution, self.resolution)

    def file_for(self, runtime: str) -> Path:
        return {"eager-fp32": self.state_dict, "ort-fp32": self.onnx_fp32}.get(
            runtime, self.onnx_int8
        )


def versions() -> dict[str, str]:
    out = {}
    for dist in ("torch", "onnx", "onnxruntime", "onnxscript"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def _require_onnx() -> None:
    missing = [d for d, v in versions().items() if not v]
    if missing:
        raise PeerError(
            f"the peer benchmark needs {', '.join(missing)}; install the project's extras "
            "(pip install -e '.[peers]', which nox -s bench-peers does)"
        )


def _state_sha(state: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


class _Calibration:
    """onnxruntime CalibrationDataReader over N images, one at a time."""

    def __init__(self, images: Any, name: str) -> None:
        self._feeds = iter([{name: images[i : i + 1].numpy()} for i in range(len(images))])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # not needed by MinMax, present for the reader protocol
        pass


def export_onnx(module: Any, example: Any, path: Path) -> None:
    """torch.onnx.export with the dynamo exporter (the TorchScript one is deprecated in 2.x)."""
    import contextlib
    import io

    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=["logits"],
                opset_version=ONNX_OPSET,
                dynamo=True,
                external_data=False,
                optimize=True,
            )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise PeerError(f"torch.onnx.export failed ({type(exc).__name__}: {first})") from exc
    os.replace(tmp, path)


def quantize_onnx(fp32: Path, path: Path, calibration: Any) -> None:
    """Static QDQ int8: per-channel symmetric int8 weights, uint8 activations (ORT's x86 fast
    path), MinMax calibration over `calibration` (N x 3 x R x R)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = path.with_name(f".{path.stem}.pre.{os.getpid()}.onnx")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(tmp),
            _Calibration(calibration, INPUT_NAME),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise PeerError(
            f"onnxruntime quantize_static failed ({type(exc).__name__}: {first})"
        ) from exc
    finally:
        pre.unlink(missing_ok=True)
    os.replace(tmp, path)


def prepare(
    spec: Any,
    *,
    images_folder: Path | None = None,
    root: Path = PEERS_ROOT,
    log: Any = None,
) -> PeerModels:
    """Build `spec` (a deploy.models.ModelSpec) and make (or reuse) its peer files."""
    _require_onnx()
    import torch

    from deploy.images import load_images
    from deploy.models import build_model

    say = log or (lambda text: None)
    built = build_model(spec)
    images = load_images(images_folder, spec.resolution)
    calibration, held_out = images.split(every=min(4, len(images)))
    image = (held_out if len(held_out) else calibration).tensor[:1].contiguous()
    state = built.module.state_dict()
    weights_sha = _state_sha(state)
    key_material = json.dumps(
        {
            "model": spec.name,
            "weights": weights_sha,
            "calibration": calibration.sha256,
            "image": hashlib.sha256(image.numpy().tobytes()).hexdigest(),
            "versions": versions(),
            "prepare": PREPARE_VERSION,
            "opset": ONNX_OPSET,
        },
        sort_keys=True,
    )
    key = hashlib.sha256(key_material.encode()).hexdigest()[:12]
    folder = Path(root) / f"{spec.name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    state_path, fp32, int8 = folder / "model.pt", folder / "fp32.onnx", folder / "int8.onnx"
    input_file = folder / "input.bin"
    if not state_path.exists():
        tmp = folder / f".model.pt.{os.getpid()}.tmp"
        saved = {"family": spec.family, "width": spec.width, "num_classes": built.num_classes}
        torch.save({**saved, "state_dict": state}, tmp)
        os.replace(tmp, state_path)
    if not input_file.exists():
        input_file.write_bytes(image.numpy().astype("float32").tobytes())
    if not fp32.exists():
        say(f"{spec.name}: exporting ONNX fp32")
        export_onnx(built.module, image, fp32)
    if not int8.exists():
        say(f"{spec.name}: quantizing ONNX int8 on {len(calibration)} images")
        quantize_onnx(fp32, int8, calibration.tensor)
    (folder / "key.json").write_text(key_material)
    complexity = built.complexity()
    return PeerModels(
        model=spec.name,
        family=spec.family,
        width=spec.width,
        resolution=spec.resolution,
        weights_source=built.weights.source,
        params=complexity.params,
        madds=complexity.madds,
        folder=folder,
        state_dict=state_path,
        onnx_fp32=fp32,
        onnx_int8=int8,
        input_file=input_file,
        input_sha256=sha256_file(input_file),
        calibration_count=len(calibration),
    )
