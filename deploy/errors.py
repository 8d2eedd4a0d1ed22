"""Every failure of `deploy` that a user can act on.

Each error's message names the cause and the fix in one line; the CLI prints it and exits non-zero.
"""


class ProjectError(Exception):
    """The one base of every error a user can act on, in deploy and in bench alike."""


class DeployError(ProjectError):
    """Base of every error raised by the deploy package."""


class ModelNameError(DeployError):
    """A model name that does not parse, or names an unsupported configuration."""


class CheckpointError(DeployError):
    """A checkpoint that is missing, unreadable, or does not match the model."""


class WeightsUnavailableError(DeployError):
    """Pretrained weights requested but not present on this machine (no download is attempted)."""


class ImageSetError(DeployError):
    """A folder of images with nothing usable in it."""


class RecipeError(DeployError):
    """An export recipe name that is not registered."""


class ExportError(DeployError):
    """A model that torch.export, quantization or lowering could not turn into an artifact."""


class ValidationFailedError(DeployError):
    """An artifact whose outputs or delegation miss the thresholds; it is not marked valid."""


class OutputFolderError(DeployError):
    """An output folder that cannot be created or written."""


class ManifestError(DeployError):
    """A manifest that cannot be read: corrupt JSON or an unknown schema version."""


class ArtifactIntegrityError(DeployError):
    """An artifact file that is missing or whose sha256 differs from its manifest entry."""
