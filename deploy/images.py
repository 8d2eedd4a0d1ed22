"""Real photographs in, ImageNet-preprocessed tensors out.

Used to re-estimate BatchNorm statistics of randomly initialised models and to calibrate and
validate quantized artifacts. The default set is the photographs scikit-image ships in
`skimage/data` (no download); a user folder may hold any Pillow-readable images.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from deploy.errors import ImageSetError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Photographs among skimage/data (synthetic test patterns such as chessboard or logo are left out).
SKIMAGE_PHOTOGRAPHS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "microaneurysms.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)


def skimage_photographs() -> list[Path]:
    """The photographs shipped with scikit-image, in a fixed order."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    found = [folder / name for name in SKIMAGE_PHOTOGRAPHS if (folder / name).exists()]
    if not found:
        raise ImageSetError(
            f"no photographs in {folder}; reinstall scikit-image or pass a folder of images"
        )
    return found


def image_files(folder: Path | None) -> list[Path]:
    """Files of `folder` in name order (the skimage photographs when None)."""
    if folder is None:
        return skimage_photographs()
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageSetError(f"image folder {folder} does not exist; pass an existing folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def preprocess(path: Path, resolution: int) -> np.ndarray:
    """ImageNet evaluation preprocessing: resize (256/224 of the crop), centre crop, normalise."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
        short = round(resolution * 256 / 224)
        width, height = image.size
        scale = short / min(width, height)
        image = image.resize(
            (max(short, round(width * scale)), max(short, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
        width, height = image.size
        left, top = (width - resolution) // 2, (height - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
        array = np.asarray(image, dtype=np.float32) / 255.0
    # Channels-first and contiguous: a channels-last view would make torch.export bake
    # layout copies into every program traced from these images.
    return np.ascontiguousarray(((array - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images (N x 3 x R x R), where they came from, and a hash of their content."""

    tensor: torch.Tensor
    files: tuple[Path, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.files)

    def split(self, every: int = 4) -> tuple[ImageSet, ImageSet]:
        """(kept, held out): every `every`-th image is held out, e.g. for validation."""
        held = [i for i in range(len(self)) if i % every == every - 1]
        kept = [i for i in range(len(self)) if i % every != every - 1]
        return self._subset(kept), self._subset(held)

    def _subset(self, indices: list[int]) -> ImageSet:
        files = tuple(self.files[i] for i in indices)
        return ImageSet(self.tensor[indices], files, _hash_files(files))


def _hash_files(files: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_images(folder: Path | None, resolution: int) -> ImageSet:
    """Every readable image of `folder` (default: skimage's photographs), preprocessed.

    Unreadable or non-image files are skipped with a warning; none usable -> ImageSetError.
    """
    arrays, used = [], []
    for path in image_files(folder):
        try:
            arrays.append(preprocess(path, resolution))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            warnings.warn(f"skipping {path.name}: not a readable image ({exc})", stacklevel=2)
            continue
        used.append(path)
    if not arrays:
        where = folder if folder is not None else "skimage/data"
        raise ImageSetError(
            f"no readable images in {where}; put JPEG/PNG photographs there or omit the option"
        )
    files = tuple(used)
    return ImageSet(torch.from_numpy(np.stack(arrays)), files, _hash_files(files))
