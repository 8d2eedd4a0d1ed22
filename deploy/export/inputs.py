"""Which preprocessing an artifact records: ImageNet's, or the one its checkpoint was trained with.

`random` and `imagenet` weights get torchvision's ImageNet evaluation transform at the model's
resolution. A checkpoint gets the `preprocessing` of its sidecar (`<checkpoint>.json`, see
deploy.models.weights); one without a sidecar, or whose sidecar says nothing about it, gets the
ImageNet transform and a one-line warning saying so.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from deploy.artifacts.preprocessing import Preprocessing, imagenet
from deploy.errors import CheckpointError, ManifestError
from deploy.models import BuiltModel
from deploy.models.weights import sidecar_path


def preprocessing_of(built: BuiltModel) -> Preprocessing:
    """The input recipe of `built`'s artifacts; CheckpointError if its sidecar's is unusable."""
    spec, weights = built.spec, built.weights
    if weights.source != "checkpoint":
        return imagenet(spec.resolution)
    side = sidecar_path(Path(weights.detail))
    recorded = (weights.training or {}).get("preprocessing")
    if recorded is None:
        why = "has no sidecar" if weights.training is None else "has a sidecar without one"
        warnings.warn(
            f"checkpoint {weights.detail} {why} ({side.name} with a 'preprocessing' object): "
            "its artifacts record the ImageNet transform; write the sidecar if it was trained "
            "otherwise",
            stacklevel=2,
        )
        return imagenet(spec.resolution)
    try:
        preprocessing = Preprocessing.from_dict(recorded, f"checkpoint sidecar {side}")
    except ManifestError as exc:
        raise CheckpointError(f"{exc}; fix the sidecar's preprocessing or delete it") from None
    if preprocessing.crop != spec.resolution:
        raise CheckpointError(
            f"checkpoint {weights.detail} was trained at {preprocessing.crop}x"
            f"{preprocessing.crop} (its sidecar's crop), but {spec.name} asks for "
            f"{spec.resolution}; export it as {replace(spec, resolution=preprocessing.crop).name}"
        )
    return preprocessing
