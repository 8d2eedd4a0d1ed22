"""Real photographs in, preprocessed tensors out (ImageNet's transform, or an artifact's recipe).

Used to re-estimate BatchNorm statistics of randomly initialised models and to calibrate and
validate quantized artifacts. The default set is the photographs scikit-image ships in
`skimage/data` (no download); a user folder may hold any Pillow-readable images.

Memory stays bounded whatever a folder holds: an image of up to REDUCE_ABOVE_PIXELS pixels is
decoded in full, as it always was; a larger one is decoded reduced (a JPEG by its decoder, at
1/2..1/8 scale) and box-reduced to about twice the model's input before the resize; one that
would still take more than MAX_DECODE_BYTES to decode, or that Pillow calls a decompression
bomb, is skipped with a warning, like an unreadable file.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from deploy.errors import ImageSetError

if TYPE_CHECKING:  # imported where used: decoding an image should not pay torch's ~200 MB
    import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: Images of at most this many pixels are decoded in full, exactly as they always were; larger
#: ones are decoded reduced (to at least twice the model's input), which changes them slightly.
REDUCE_ABOVE_PIXELS = 4096 * 4096
#: The most memory one large image's decode may take (Pillow's pixel buffer in the file's own mode,
#: plus an RGB copy when that mode cannot be resized as it is); above it the image is skipped.
MAX_DECODE_BYTES = 192 * 2**20
#: A user folder with fewer usable images than this calibrates and validates int8 poorly.
FEW_IMAGES = 8
# Modes a large image is resized in and converted to RGB afterwards (a per-pixel conversion, so
# the order hardly matters); alpha, palette, 1-bit and 16/32-bit images are converted first.
_NATIVE_MODES = frozenset({"L", "RGB", "RGBX", "CMYK", "YCbCr"})


class ImageTooLarge(ValueError):
    """An image that would take more than MAX_DECODE_BYTES, or is a decompression bomb."""


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


class InputRecipe(Protocol):
    """What `preprocess` reads of a recipe: deploy.artifacts.preprocessing.Preprocessing's fields.

    (A protocol, not that class: deploy.models uses this module and must not import artifacts.)
    """

    @property
    def resize(self) -> int: ...
    @property
    def crop(self) -> int: ...
    @property
    def mean(self) -> tuple[float, float, float]: ...
    @property
    def std(self) -> tuple[float, float, float]: ...
    @property
    def channel_order(self) -> str: ...
    @property
    def value_range(self) -> tuple[float, float]: ...
    @property
    def interpolation(self) -> str: ...


#: An int is a resolution, meaning torchvision's ImageNet transform at it; else a recipe.
How = int | InputRecipe

_RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def input_side(how: How) -> int:
    """The side of the square input tensor that `how` makes."""
    return how if isinstance(how, int) else how.crop


def preprocess(path: Path, how: How) -> np.ndarray:
    """One image file -> a 3 x crop x crop float32 array, channels first.

    `how` is a resolution (torchvision's ImageNet evaluation transform: resize the shorter side
    to 256/224 of it, centre crop, normalise) or a recipe: channel order ("LLL": grey replicated
    to three channels), resize the shorter side, centre crop, 0..255 -> value_range, mean/std.
    """
    if isinstance(how, int):
        return _preprocess(
            path,
            round(how * 256 / 224),
            how,
            IMAGENET_MEAN,
            IMAGENET_STD,
            "RGB",
            (0.0, 1.0),
            Image.Resampling.BILINEAR,
        )
    return _preprocess(
        path,
        how.resize,
        how.crop,
        np.array(how.mean, dtype=np.float32),
        np.array(how.std, dtype=np.float32),
        how.channel_order,
        how.value_range,
        _RESAMPLING[how.interpolation],
    )


def _preprocess(
    path: Path,
    short: int,
    crop: int,
    mean: np.ndarray,
    std: np.ndarray,
    channel_order: str,
    value_range: tuple[float, float],
    resampling: Image.Resampling,
) -> np.ndarray:
    grey = channel_order == "LLL"
    with _open(path) as opened:
        image, reducing_gap = _decode(opened, 2 * short)
        if grey and reducing_gap is None:
            image = image.convert("L")  # resize one channel instead of three (same result)
        width, height = image.size
        scale = short / min(width, height)
        image = image.resize(
            (max(short, round(width * scale)), max(short, round(height * scale))),
            resampling,
            reducing_gap=reducing_gap,
        ).convert("L" if grey else "RGB")
        width, height = image.size
        left, top = (width - crop) // 2, (height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
        pixels = np.asarray(image)
    return normalise(pixels, mean, std, channel_order, value_range)


def normalise(
    pixels: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    channel_order: str = "RGB",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """8-bit pixels (... x H x W grey for "LLL", else ... x H x W x 3 RGB) -> ... x 3 x H x W.

    The last steps of `preprocess`, also used by training code that makes its tensors from
    pixels in memory, so that a saved image preprocessed later gives the very same tensor.
    """
    array = pixels.astype(np.float32) / 255.0
    low, high = value_range
    if (low, high) != (0.0, 1.0):
        array = np.float32(low) + np.float32(high - low) * array
    if channel_order == "LLL":
        array = np.repeat(array[..., None], 3, axis=-1)
    elif channel_order == "BGR":
        array = array[..., ::-1]
    # Channels-first and contiguous: a channels-last view would make torch.export bake
    # layout copies into every program traced from these images.
    return np.ascontiguousarray(np.moveaxis((array - mean) / std, -1, -3))


def _open(path: Path) -> Image.Image:
    """Image.open (reads the header only); a decompression bomb is ImageTooLarge.

    Pillow's warning for images between its two limits is not shown: _decode bounds the memory
    of those itself.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(str(exc)) from None


def _decode(opened: Image.Image, at_least: int) -> tuple[Image.Image, float | None]:
    """(decoded image, reducing_gap for its resize to the model's size).

    Up to REDUCE_ABOVE_PIXELS: converted to RGB, no reducing gap - exactly as always. Larger: a
    JPEG is decoded at 1/2..1/8 scale (short side still >= `at_least`); then, unless that would
    take more than MAX_DECODE_BYTES (ImageTooLarge), it is decoded in its own mode (other than
    _NATIVE_MODES: converted to RGB first), and the resize box-reduces it to within 2x first.
    """
    width, height = opened.size
    if width * height <= REDUCE_ABOVE_PIXELS:
        return opened.convert("RGB"), None
    opened.draft(None, (at_least, at_least))  # JPEG only; a no-op for other formats
    width, height = opened.size
    native = opened.mode in _NATIVE_MODES
    need = width * height * (_bytes_per_pixel(opened.mode) + (0 if native else 4))
    if need > MAX_DECODE_BYTES:
        raise ImageTooLarge(
            f"{width}x{height} {opened.mode} would take {need / 2**20:.0f} MiB to decode, above "
            f"the {MAX_DECODE_BYTES / 2**20:.0f} MiB limit; save it smaller or as JPEG"
        )
    return (opened if native else opened.convert("RGB")), 2.0


def _bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of Pillow's buffer for `mode` (multi-band modes use 4)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


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


def load_images(folder: Path | None, how: How) -> ImageSet:
    """Every readable image of `folder` (default: skimage's photographs), preprocessed.

    `how` is a resolution (the ImageNet transform at it) or a recipe, as for `preprocess`.

    Unreadable, non-image and too large files are skipped with a warning; fewer than FEW_IMAGES
    usable is a warning, none an ImageSetError.
    """
    import torch

    arrays, used = [], []
    for path in image_files(folder):
        try:
            arrays.append(preprocess(path, how))
        except ImageTooLarge as exc:
            warnings.warn(f"skipping {path.name}: too large to decode ({exc})", stacklevel=2)
            continue
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            warnings.warn(f"skipping {path.name}: not a readable image ({exc})", stacklevel=2)
            continue
        used.append(path)
    where = folder if folder is not None else "skimage/data"
    if not arrays:
        raise ImageSetError(
            f"no readable images in {where}; put JPEG/PNG photographs there or omit the option"
        )
    if len(arrays) < FEW_IMAGES:
        warnings.warn(
            f"only {len(arrays)} usable image{'s' if len(arrays) > 1 else ''} in {where}: int8 "
            f"calibration and validation on fewer than {FEW_IMAGES} photographs are unreliable; "
            "add more",
            stacklevel=2,
        )
    files = tuple(used)
    return ImageSet(torch.from_numpy(np.stack(arrays)), files, _hash_files(files))
