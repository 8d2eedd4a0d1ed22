"""Export: model spec + recipe -> validated ExecuTorch / Core ML artifacts and their manifest."""

from deploy.artifacts.manifest import (
    MANIFEST_SCHEMA_VERSION,
    Manifest,
    ManifestEntry,
    verify_artifact,
)
from deploy.export.pipeline import (
    DEFAULT_MODELS,
    ArtifactInvalidError,
    ExportOutcome,
    export_artifact,
    export_many,
)
from deploy.export.recipes import RECIPES, QuantizationConfig, Recipe, get_recipe, parse_recipes
from deploy.export.validation import Thresholds

__all__ = [
    "DEFAULT_MODELS",
    "MANIFEST_SCHEMA_VERSION",
    "RECIPES",
    "ArtifactInvalidError",
    "ExportOutcome",
    "Manifest",
    "ManifestEntry",
    "QuantizationConfig",
    "Recipe",
    "Thresholds",
    "export_artifact",
    "export_many",
    "get_recipe",
    "parse_recipes",
    "verify_artifact",
]
