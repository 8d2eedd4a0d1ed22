"""Shared helpers for the export tests: manifest entries without exporting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.artifacts.hashing import sha256_file
from deploy.artifacts.manifest import ManifestEntry
from deploy.artifacts.preprocessing import imagenet


def make_entry(folder: Path, name: str = "a.pte", data: bytes = b"program", **changes: Any):
    """A ManifestEntry for a small file written into `folder`."""
    path = folder / name
    path.write_bytes(data)
    fields: dict[str, Any] = {
        "sha256": sha256_file(path),
        "file": name,
        "size_bytes": len(data),
        "model": {
            "name": "mobilenet_v2_1.0_224",
            "family": "mobilenet_v2",
            "width": 1.0,
            "resolution": 224,
        },
        "recipe": {
            "name": "xnnpack-fp32",
            "backend": "xnnpack",
            "precision": "fp32",
            "format": ".pte",
        },
        "input_shape": [1, 3, 224, 224],
        "params": 3_504_872,
        "madds": 300_774_272,
        "weights": {"source": "random", "detail": "seed=0", "sha256": None},
        "calibration": None,
        "fidelity": {"max_rel_error": 1e-6, "passed": True, "thresholds": {}},
        "valid": True,
        "delegation": {
            "delegated_ops": 10,
            "non_delegated_ops": 0,
            "coverage": 1.0,
            "non_delegated": {},
        },
        "toolchain": {"torch": "2.13.0", "executorch": "1.5.1", "python": "3.11"},
        "exported_at": "2026-01-01T00:00:00+00:00",
        "export_s": 1.0,
        "cache_key": "k" * 64,
        "preprocessing": imagenet(224).to_dict(),
    }
    fields.update(changes)
    if "input_shape" in changes and "preprocessing" not in changes:
        fields["preprocessing"] = imagenet(fields["input_shape"][-1]).to_dict()
    return ManifestEntry(**fields)
