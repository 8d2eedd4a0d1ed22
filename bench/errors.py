"""Every failure of `bench` that a user can act on: one line naming the cause and the fix."""

from deploy.errors import ProjectError


class BenchError(ProjectError):
    """Base of every error raised by the bench package."""


class RunnerBuildError(BenchError):
    """The native runner could not be configured or compiled."""


class RunnerError(BenchError):
    """The runner crashed, hung, or printed no result."""


class ResultSchemaError(BenchError):
    """A runner result JSON does not follow the schema in bench/results.py."""


class ArtifactError(BenchError):
    """A .pte is missing or does not match the manifest's sha256."""


class StoreError(BenchError):
    """The results store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process held the results store's write lock for longer than we wait for it."""


class CompareError(BenchError):
    """A comparison cannot be made: unknown device, empty selection, bad threshold."""


class IOSHarnessError(BenchError):
    """The iOS harness cannot run here (not macOS, no Xcode, no iPhone) or its run failed."""


class PeerError(BenchError):
    """A peer runtime (PyTorch eager, ONNX Runtime) cannot be prepared or measured."""


class AndroidBenchError(BenchError):
    """bench-android cannot start: no device to run on, or a device ABI without a runner build."""


class InstructionCountError(RunnerError):
    """--count-instructions: valgrind is missing, failed, or left no instruction count."""


class DataFolderError(BenchError):
    """A labelled image folder (class-per-folder) that is missing, empty or mislaid."""


class EvaluationError(BenchError):
    """An artifact's accuracy cannot be evaluated: classes, weights or runtime do not fit."""
