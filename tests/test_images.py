"""Real photographs in, ImageNet-preprocessed, contiguous tensors out."""

from __future__ import annotations

import shutil

import pytest
import torch

from deploy.errors import ImageSetError
from deploy.images import IMAGENET_MEAN, load_images, skimage_photographs


def test_default_set_is_skimage_photographs_preprocessed_channels_first():
    images = load_images(None, 48)
    assert len(images) == len(skimage_photographs()) >= 15
    assert images.tensor.shape == (len(images), 3, 48, 48)
    # Contiguous NCHW: a channels-last view would bake layout copies into exported programs.
    assert images.tensor.is_contiguous()
    kept, held = images.split()
    assert kept.tensor.is_contiguous() and held.tensor.is_contiguous()
    assert len(kept) + len(held) == len(images) and set(kept.files).isdisjoint(held.files)
    # Normalised with ImageNet statistics: roughly centred, not in [0, 1].
    assert images.tensor.min() < -1.0 and abs(images.tensor.mean()) < 1.0
    assert images.sha256 != kept.sha256 != held.sha256


def test_unreadable_files_are_skipped_with_a_warning(tmp_path):
    shutil.copy(skimage_photographs()[0], tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipping b.jpg"):
        images = load_images(tmp_path, 32)
    assert [p.name for p in images.files] == ["a.png"]


def test_a_folder_with_nothing_usable_is_one_line_naming_the_fix(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning), pytest.raises(ImageSetError, match="no readable images"):
        load_images(tmp_path, 32)
    with pytest.raises(ImageSetError, match="does not exist"):
        load_images(tmp_path / "missing", 32)


def test_grey_photographs_become_three_identical_channels(tmp_path):
    shutil.copy(next(p for p in skimage_photographs() if p.name == "camera.png"), tmp_path)
    image = load_images(tmp_path, 32).tensor[0]
    raw = image * torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) + torch.from_numpy(
        IMAGENET_MEAN
    ).view(3, 1, 1)
    assert torch.allclose(raw[0], raw[1], atol=1e-5) and torch.allclose(raw[1], raw[2], atol=1e-5)
