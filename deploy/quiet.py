"""Keep third-party chatter that reads as failure off the terminal; never our own messages.

The command-line entry points (`python -m deploy`, `python -m bench`) run their command inside
`installed()`, entered before anything imports torch. It silences, each at its source and by its
exact text:

- torchao's "Failed to load .../torchao/_C_*.so" (logger `torchao`, at import): optional kernels
  built for CUDA or another Python; torchao works without them.
- torch's "<enum 'KernelPreference'> is an Enum subclass ... register_constant() ... deprecated"
  (logger `torch.utils._pytree`, when torchao registers its enum).
- torch.onnx's "torchvision is not installed. Skipping torchvision::nms" and the like (logger
  `torch.onnx._internal.exporter._registration`): we export no torchvision operator.
- torch's FutureWarning "`isinstance(treespec, LeafSpec)` is deprecated" (raised inside
  torch.onnx.export, reported against copyreg.py).
- ExecuTorch's "[cpuinfo_utils.cpp:..] Reading file /sys/devices/soc0/image_version", "Failed to
  open midr file ...", "CPU info and manual query on # of cpus dont match." (C++, straight to file
  descriptor 2 when its thread pool is first created, i.e. on the first XNNPACK method load): the
  pool is created once, right after the runtime's extension module is imported, with descriptor
  2 pointed at /dev/null for that call only.

Warnings raised by our own code (deploy.*, bench.*) are printed as one line, `warning: ...`; every
other warning and log record is left as it was. DEPLOY_SHOW_THIRD_PARTY=1 turns all this off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

#: logger name -> texts (substrings of the unformatted message) of records to drop
LOG_NOISE: dict[str, tuple[str, ...]] = {
    "torchao": ("Failed to load ",),
    "torch.utils._pytree": ("is an Enum subclass and is now natively supported",),
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
}
#: (category, regular expression matching the start of the message) of warnings to drop
WARNING_NOISE: tuple[tuple[type[Warning], str], ...] = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
)
#: the module whose import is followed by a silent start of ExecuTorch's thread pool
EXECUTORCH_EXTENSION = "executorch.extension.pybindings._C"

_ROOT = Path(__file__).resolve().parent.parent
_OURS = tuple(str(_ROOT / package) + os.sep for package in ("deploy", "bench"))
_hooked = False


class _DropMessages(logging.Filter):
    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(text in message for text in self.texts)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Silence the known third-party noise (see the module docstring) in the block.

    The log filters and the thread-pool hook stay (they drop nothing else); the warning filters
    and format are restored at the end, so a test calling a CLI's `main` keeps its own.
    """
    if os.environ.get("DEPLOY_SHOW_THIRD_PARTY") == "1":
        yield
        return
    _silence_sources()
    with warnings.catch_warnings():
        for category, message in WARNING_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        warnings.showwarning = _one_line_if_ours(warnings.showwarning)
        yield


def _silence_sources() -> None:
    global _hooked
    for name, texts in LOG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(texts))
    if not _hooked and EXECUTORCH_EXTENSION not in sys.modules:
        sys.meta_path.insert(0, _AfterImport(EXECUTORCH_EXTENSION, _start_threadpool_quietly))
    _hooked = True


def _one_line_if_ours(previous: Callable[..., None]) -> Callable[..., None]:
    """A warnings.showwarning printing ours as `warning: ...`, others as `previous` does."""

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if str(Path(filename).resolve()).startswith(_OURS):
            print(f"warning: {message}", file=sys.stderr if file is None else file)
        else:
            previous(message, category, filename, lineno, file, line)

    return show


def _start_threadpool_quietly(module: ModuleType) -> None:
    """Create ExecuTorch's thread pool now, its cpuinfo log lines going to /dev/null."""
    start = getattr(module, "_threadpool_get_thread_count", None)
    if start is not None:
        with native_stderr_discarded():
            start()


@contextlib.contextmanager
def native_stderr_discarded() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null (C/C++ writes included) for the block."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _AfterImport:
    """A one-shot import hook: once module `name` has been executed, call `then(module)`."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = (
                finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            )
            if spec is not None:
                break
        else:
            return None
        loader, then = spec.loader, self.then
        if loader is not None and hasattr(loader, "exec_module"):
            exec_module = loader.exec_module

            def exec_then(module: ModuleType) -> None:
                exec_module(module)
                with contextlib.suppress(Exception):  # never fail the import over this
                    then(module)

            loader.exec_module = exec_then  # type: ignore[method-assign]
        return spec
