"""Content-addressed export cache: the same inputs give the same key, and the key is cheap.

The key is a sha256 over everything that decides an artifact: the model spec, the identity of
its weights (seed + the images BatchNorm statistics were estimated on, or the checkpoint's
sha256), the recipe, the raw bytes of the calibration/validation image files, the thresholds,
the toolchain versions and PIPELINE_VERSION. Computing it builds no model, decodes no image and
imports neither executorch nor torchao, so an unchanged re-export finishes in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

from deploy.artifacts.hashing import sha256_file
from deploy.errors import CheckpointError
from deploy.export.recipes import Recipe
from deploy.models import ModelSpec

# Bump when the pipeline would produce a different artifact or entry from the same inputs.
PIPELINE_VERSION = 1
TOOLCHAIN_PACKAGES = ("torch", "executorch", "torchao", "coremltools")

_file_digests: dict[tuple[str, int, int], str] = {}


def toolchain_versions() -> dict[str, str]:
    """Installed versions of the export toolchain (from package metadata; nothing imported)."""
    versions = {}
    for name in TOOLCHAIN_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    versions["python"] = platform.python_version()
    return versions


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, memoised on (path, size, mtime) within this process."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _file_digests:
        _file_digests[memo] = sha256_file(path)
    return _file_digests[memo]


def image_folder_identity(folder: Path | None) -> dict[str, Any]:
    """Names and bytes of the candidate image files (unreadable ones included: cheap, exact)."""
    from deploy.images import image_files

    files = image_files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    return {
        "folder": "skimage" if folder is None else str(Path(folder).resolve()),
        "files": len(files),
        "sha256": digest.hexdigest(),
    }


def weights_identity(spec: ModelSpec) -> dict[str, Any]:
    """What fixes the weights' values, without building the model."""
    from deploy.models import weights as weights_module

    if spec.weights == "random":
        return {
            "source": "random",
            "seed": weights_module.RANDOM_SEED,
            "batchnorm_images": image_folder_identity(None)["sha256"],
        }
    if spec.weights == "imagenet":
        folder = weights_module.hub_checkpoint_dir()
        for name in weights_module.TORCHVISION_FILES.get(spec.family, ()):
            if (folder / name).is_file():
                return {"source": "imagenet", "sha256": file_sha256(folder / name)}
        return {"source": "imagenet", "sha256": None}  # building will raise the real error
    path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pth file")
    identity = {"source": "checkpoint", "sha256": file_sha256(path)}
    sidecar = weights_module.sidecar_path(path)
    if sidecar.is_file():  # its preprocessing decides the images and the entry
        identity["sidecar"] = file_sha256(sidecar)
    return identity


def cache_key(
    spec: ModelSpec,
    recipe: Recipe,
    image_folder: Path | None,
    thresholds: dict[str, Any],
    toolchain: dict[str, str] | None = None,
) -> str:
    """sha256 over every input that decides the artifact and its manifest entry."""
    material = {
        "pipeline": PIPELINE_VERSION,
        "model": {
            "family": spec.family,
            "width": spec.width,
            "resolution": spec.resolution,
        },
        "weights": weights_identity(spec),
        "recipe": recipe.as_dict(),
        "images": image_folder_identity(image_folder)["sha256"],
        "thresholds": thresholds,
        "toolchain": toolchain or toolchain_versions(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
