"""Every failure of `deploy` that a user can act on.

Each error's message names the cause and the fix in one line; the CLI prints it and exits non-zero.
"""


class DeployError(Exception):
    """Base of every error raised by the deploy package."""


class ModelNameError(DeployError):
    """A model name that does not parse, or names an unsupported configuration."""


class CheckpointError(DeployError):
    """A checkpoint that is missing, unreadable, or does not match the model."""


class WeightsUnavailableError(DeployError):
    """Pretrained weights requested but not present on this machine (no download is attempted)."""


class ImageSetError(DeployError):
    """A folder of images with nothing usable in it."""
