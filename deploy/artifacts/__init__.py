"""The contract between export and bench, without torch: the manifest and artifact hashing.

`deploy.export` writes artifacts and their manifest entries; `bench` (and anything else that
deploys or measures) reads them through `Manifest`, never from file names. Nothing here imports
torch, ExecuTorch or coremltools.
"""

from deploy.artifacts.hashing import sha256_file, sha256_path
from deploy.artifacts.manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    ManifestEntry,
    verify_artifact,
)

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "Manifest",
    "ManifestEntry",
    "sha256_file",
    "sha256_path",
    "verify_artifact",
]
