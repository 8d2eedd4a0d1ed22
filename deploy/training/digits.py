"""`python -m deploy train-digits`: a real MobileNet trained on scikit-learn's bundled digits.

    .nox/ml/bin/python -m deploy train-digits --out build/digits [--images build/digits-val]

The data set (`sklearn.datasets.load_digits`, 1797 grey 8x8 images, values 0..16, 10 classes)
ships inside scikit-learn, so nothing is downloaded. Each image is scaled to 0..255 and upsampled
to 64x64 (bilinear) once; those 8-bit pictures are the data set from then on. A fixed stratified
split (SPLIT_SEED) holds out 20%; MobileNetV3-Small 0.5 at 64x64 with 10 classes is trained on
the rest (seeded; small random affine augmentation), and its BatchNorm statistics are finally
re-estimated exactly on the training pictures.

It writes a torchvision-format checkpoint (`digits.pth`, a plain state dict that `--weights`
loads) and its sidecar (`digits.pth.json`): the training transform as a Preprocessing ("digits":
grey replicated to 3 channels ("LLL"), resize/crop 64, the training set's mean and std), the
class names, the split and the held-out top-1. `write_image_folder` saves a split as PNGs in an
ImageNet-val-like folder (one folder per class, "0".."9"); preprocessing those PNGs with the
recorded Preprocessing gives exactly the tensors the model was trained and evaluated on.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from deploy.artifacts.manifest import atomic_write_bytes
from deploy.artifacts.preprocessing import Preprocessing
from deploy.images import normalise
from deploy.models import parse_model_name
from deploy.models.families import create_architecture
from deploy.models.weights import recalibrate_batchnorm, sidecar_path

CLASSES = tuple(str(digit) for digit in range(10))
MODEL = "mobilenet_v3_small_0.5_64"
CHECKPOINT_NAME = "digits.pth"
DIGITS_MAX = 16  # load_digits' pixel values are 0..16


@dataclass(frozen=True)
class Settings:
    """Everything that decides the trained weights (with the code and torch's version)."""

    model: str = MODEL
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 0.006
    weight_decay: float = 0.0005
    label_smoothing: float = 0.05
    held_out: float = 0.2  # fraction of each class held out for evaluation
    split_seed: int = 0
    seed: int = 0
    rotate_deg: float = 10.0  # augmentation: random rotation, scale, shift of training images
    scale: float = 0.1
    shift: float = 0.1  # of the image side
    threads: int = 1  # one thread: the same weights on any machine, and no OpenMP spin under load

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def resolution(self) -> int:
        return parse_model_name(self.model).resolution


@dataclass(frozen=True)
class Split:
    """8-bit grey pictures (N x R x R), their labels, and their indices in load_digits."""

    pixels: np.ndarray
    labels: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def per_class(self, count: int) -> Split:
        """The first `count` pictures of each class (in load_digits order), e.g. to calibrate."""
        keep = np.sort(
            np.concatenate([np.flatnonzero(self.labels == c)[:count] for c in range(len(CLASSES))])
        )
        return Split(self.pixels[keep], self.labels[keep], self.indices[keep])


@dataclass(frozen=True)
class TrainedDigits:
    """What `train` made: the checkpoint (sidecar beside it) and its held-out top-1."""

    checkpoint: Path
    preprocessing: Preprocessing
    held_out_top1: float
    train_s: float
    cpu_s: float  # CPU time of this process: wall time is disturbed by other work on the machine

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.checkpoint)


def upsample(images: np.ndarray, resolution: int) -> np.ndarray:
    """load_digits' 0..16 images (N x 8 x 8) -> 8-bit grey pictures (N x R x R), bilinear."""
    scaled = np.rint(np.asarray(images, dtype=np.float64) * (255 / DIGITS_MAX)).astype(np.uint8)
    size = (resolution, resolution)
    return np.stack(
        [
            np.asarray(Image.fromarray(a, "L").resize(size, Image.Resampling.BILINEAR))
            for a in scaled
        ]
    )


def load_split(settings: Settings = Settings()) -> tuple[Split, Split]:
    """(training, held-out): the fixed stratified split of the upsampled digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, held = train_test_split(
        indices,
        test_size=settings.held_out,
        random_state=settings.split_seed,
        stratify=digits.target,
    )
    pixels = upsample(digits.images, settings.resolution)
    labels = np.asarray(digits.target, dtype=np.int64)
    return tuple(Split(pixels[i], labels[i], i) for i in (np.sort(train), np.sort(held)))  # type: ignore[return-value]


def digits_preprocessing(training: Split, resolution: int) -> Preprocessing:
    """The training transform: grey replicated, 0..255 -> 0..1, the training set's mean/std."""
    values = training.pixels.astype(np.float64) / 255.0
    mean, std = round(float(values.mean()), 6), round(float(values.std()), 6)
    return Preprocessing(
        name="digits",
        resize=resolution,
        crop=resolution,
        mean=(mean, mean, mean),
        std=(std, std, std),
        channel_order="LLL",
    )


def tensors(split: Split, preprocessing: Preprocessing) -> torch.Tensor:
    """The split's N x 3 x R x R input tensor, exactly as `preprocess` makes it from a PNG."""
    mean = np.array(preprocessing.mean, dtype=np.float32)
    std = np.array(preprocessing.std, dtype=np.float32)
    return torch.from_numpy(
        normalise(split.pixels, mean, std, preprocessing.channel_order, preprocessing.value_range)
    )


def _augment(batch: torch.Tensor, settings: Settings, generator: torch.Generator) -> torch.Tensor:
    """Random rotation, scale and shift of 0..1 grey pictures (N x 1 x R x R); 0 outside."""
    n = batch.shape[0]

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * bound

    angle = uniform(math.radians(settings.rotate_deg))
    scale = 1 + uniform(settings.scale)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, uniform(2 * settings.shift)], dim=1),
            torch.stack([sin, cos, uniform(2 * settings.shift)], dim=1),
        ],
        dim=1,
    )
    grid = nn.functional.affine_grid(theta, list(batch.shape), align_corners=False)
    return nn.functional.grid_sample(batch, grid, align_corners=False, padding_mode="zeros")


def top1(module: nn.Module, images: torch.Tensor, labels: np.ndarray) -> float:
    """Fraction of `images` whose arg-max class is the label (eval mode, batches of 256)."""
    module.eval()
    with torch.no_grad():
        predicted = torch.cat([module(batch).argmax(dim=1) for batch in images.split(256)])
    return float((predicted.numpy() == labels).mean())


def train(
    out_dir: Path,
    settings: Settings = Settings(),
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainedDigits:
    """Train, write `digits.pth` and its sidecar into `out_dir`; `progress(epoch, of, loss)`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    spec = parse_model_name(settings.model)
    training, held_out = load_split(settings)
    preprocessing = digits_preprocessing(training, spec.resolution)
    train_x, held_x = tensors(training, preprocessing), tensors(held_out, preprocessing)
    grey = torch.from_numpy(training.pixels.astype(np.float32) / 255.0)[:, None]
    mean, std = preprocessing.mean[0], preprocessing.std[0]
    labels = torch.from_numpy(training.labels)

    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(settings.seed)
            module = create_architecture(spec.family, spec.width, len(CLASSES))
            generator = torch.Generator().manual_seed(settings.seed)
            steps = settings.epochs * math.ceil(len(training) / settings.batch_size)
            optimizer = torch.optim.AdamW(
                module.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
            )
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, settings.learning_rate, total_steps=steps, pct_start=0.15
            )
            loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
            for epoch in range(settings.epochs):
                module.train()
                order = torch.randperm(len(training), generator=generator)
                total = 0.0
                for batch in order.split(settings.batch_size):
                    if len(batch) < 2:  # BatchNorm needs two samples
                        continue
                    pictures = _augment(grey[batch], settings, generator)
                    inputs = ((pictures - mean) / std).expand(-1, 3, -1, -1)
                    loss = loss_fn(module(inputs), labels[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    total += float(loss.detach()) * len(batch)
                if progress is not None:
                    progress(epoch + 1, settings.epochs, total / len(training))
            recalibrate_batchnorm(module, train_x)
            accuracy = top1(module, held_x, held_out.labels)
    finally:
        torch.set_num_threads(threads)
    train_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / CHECKPOINT_NAME
    temp = out_dir / f".{CHECKPOINT_NAME}.tmp"
    torch.save(module.state_dict(), temp)
    temp.replace(checkpoint)
    sidecar = {
        "preprocessing": preprocessing.to_dict(),
        "classes": list(CLASSES),
        "num_classes": len(CLASSES),
        "model": settings.model,
        "dataset": "sklearn.datasets.load_digits, 0..16 scaled to 0..255, upsampled "
        f"(bilinear) to {spec.resolution}x{spec.resolution}",
        "split": {
            "held_out": settings.held_out,
            "seed": settings.split_seed,
            "stratified": True,
            "train_count": len(training),
            "held_out_count": len(held_out),
        },
        "settings": settings.to_dict(),
        "held_out_top1": accuracy,
        "train_s": round(train_s, 1),
        "train_cpu_s": round(cpu_s, 1),
        "torch": torch.__version__,
    }
    atomic_write_bytes(sidecar_path(checkpoint), (json.dumps(sidecar, indent=2) + "\n").encode())
    return TrainedDigits(checkpoint, preprocessing, accuracy, train_s, cpu_s)


#: The code whose change changes the trained weights (with Settings and the library versions).
TRAINING_SOURCES = (
    "training/digits.py",
    "models/families.py",
    "models/layers.py",
    "models/mobilenet_v3.py",
    "models/weights.py",
    "images.py",
    "artifacts/preprocessing.py",
)


def cache_key(settings: Settings = Settings()) -> str:
    """sha256 over the training code, the settings, torch's and scikit-learn's versions."""
    import sklearn

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in TRAINING_SOURCES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    material = {"settings": settings.to_dict(), "torch": torch.__version__}
    material["sklearn"] = sklearn.__version__
    digest.update(json.dumps(material, sort_keys=True).encode())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mobilenet-deploy" / "digits"


def cached_checkpoint(settings: Settings = Settings(), cache_dir: Path | None = None) -> Path:
    """The checkpoint `train(settings)` makes, trained once and kept under `cache_dir`.

    Keyed by `cache_key`, so a change of the code or the settings trains again; a lock keeps two
    processes from training the same one at once, and a half-written one is never used.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / cache_key(settings)[:16]
    checkpoint = final / CHECKPOINT_NAME
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (checkpoint.is_file() and sidecar_path(checkpoint).is_file()):
            temp = folder / f".{final.name}.{os.getpid()}.tmp"
            shutil.rmtree(temp, ignore_errors=True)
            try:
                train(temp, settings)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(temp, final)
            finally:
                shutil.rmtree(temp, ignore_errors=True)
    return checkpoint


def write_image_folder(split: Split, folder: Path, flat: bool = False) -> Path:
    """Save `split` as grey PNGs: `<folder>/<class>/<index>.png` (ImageNet-val layout).

    Folder names sort to the class index ("0".."9"). With `flat`, every PNG lies directly in
    `folder` (`<index>_<class>.png`), as `export --calibration-dir` reads images.
    """
    folder = Path(folder)
    for pixels, label, index in zip(split.pixels, split.labels, split.indices, strict=True):
        name = f"{int(index):04d}_{CLASSES[label]}.png" if flat else f"{int(index):04d}.png"
        path = folder / name if flat else folder / CLASSES[label] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "L").save(path)
    return folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/digits"),
        help=f"folder for {CHECKPOINT_NAME} and its sidecar (default: %(default)s)",
    )
    parser.add_argument(
        "--images",
        type=Path,
        default=None,
        help="also write the held-out split here as class-per-folder PNGs (for evaluate)",
    )
    parser.add_argument(
        "--calibration-images",
        type=Path,
        default=None,
        help="also write the training split here as one flat folder of PNGs (for export "
        "--calibration-dir)",
    )
    parser.add_argument(
        "--epochs", type=int, default=Settings.epochs, help="(default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console, progress_bar
    from deploy.errors import DeployError

    if args.epochs < 1:
        raise DeployError(f"--epochs {args.epochs} must be at least 1")
    settings = Settings(epochs=args.epochs)
    console = make_console()
    with progress_bar(console, "[bold]train-digits", elapsed=False) as bar:
        task = bar.add_task("epochs", total=settings.epochs)

        def on_epoch(epoch: int, of: int, loss: float) -> None:
            bar.update(task, completed=epoch, description=f"loss {loss:.3f}")

        trained = train(args.out, settings, on_epoch)
    console.print(
        f"{settings.model} on scikit-learn digits: held-out top-1 "
        f"{trained.held_out_top1:.2%} (eager fp32), trained in {trained.train_s:.0f} s "
        f"({trained.cpu_s:.0f} s of CPU time)"
    )
    console.print(f"checkpoint: {trained.checkpoint}")
    console.print(f"sidecar:    {trained.sidecar}")
    if args.images is not None or args.calibration_images is not None:
        training, held_out = load_split(settings)
        if args.images is not None:
            console.print(f"held-out images: {write_image_folder(held_out, args.images)}")
        if args.calibration_images is not None:
            folder = write_image_folder(training, args.calibration_images, flat=True)
            console.print(f"training images: {folder}")
    return 0
