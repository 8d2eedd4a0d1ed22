"""Regenerate torchvision_state_dicts.json: torchvision's state-dict keys and shapes.

Not part of the test run. torchvision's wheel does not import beside the CPU torch of this
project, but its model code does once the custom-op registrations are stubbed:

    pip download --no-deps torchvision==0.28.0 && unzip it into DIR
    PYTHONPATH=DIR python tests/models/make_torchvision_fixture.py
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

sys.modules["torchvision._meta_registrations"] = types.ModuleType("_meta_registrations")

import torchvision  # noqa: E402
from torchvision import models  # noqa: E402

OUT = Path(__file__).parent / "fixtures" / "torchvision_state_dicts.json"


def main() -> None:
    fixture = {"torchvision_version": torchvision.__version__, "models": {}}
    for name in ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"):
        state = getattr(models, name)(weights=None).state_dict()
        fixture["models"][name] = {key: list(value.shape) for key, value in state.items()}
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
