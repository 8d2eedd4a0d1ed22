"""Front door: `nox -l` lists what this project can do.

Every session that needs torch runs in ONE shared virtualenv (`.nox/ml`): torch, executorch and
coremltools are installed once, and re-installed only when `pyproject.toml` changes. Sessions do
not call each other; they share the `_ml` helper below.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).resolve().parent
ML_ENV = ROOT / ".nox" / "ml"
ML_BIN = ML_ENV / "bin"
DEBIAN_PACKAGES = ROOT / ".ci" / "debian-packages.txt"
#: How long nox waits, after Ctrl-C, for a session's command to stop the runners on its devices
#: and keep its results before terminating it (nox's default, 0.3 s, cut that cleanup short).
CLEANUP_TIMEOUT_S = 60.0


def _env_fingerprint() -> str:
    """What the shared environment was built from: a change here rebuilds it."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _ml(session: nox.Session) -> Path:
    """Create or refresh the shared torch environment; return its bin folder.

    pip (not uv) on purpose: the CPU build of torch lies on this disk for pip, while uv would
    download a multi-GB CUDA build.
    """
    stamp = ML_ENV / ".installed-from"
    ML_ENV.parent.mkdir(parents=True, exist_ok=True)
    # Two sessions started at once (say `tests` and `export` in two terminals) must not install
    # into the same environment at the same time.
    with open(ML_ENV.parent / ".ml.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ML_BIN / "python").exists():
            session.run(sys.executable, "-m", "venv", str(ML_ENV), external=True)
        if not stamp.exists() or stamp.read_text() != _env_fingerprint():
            pip = [str(ML_BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
            session.run(*pip, "install", "-e", f"{ROOT}[dev]", external=True)
            stamp.write_text(_env_fingerprint())
    return ML_BIN


def _run_py(session: nox.Session, *args: str) -> None:
    """Run the shared environment's python with the project on the path.

    Ctrl-C reaches that python too; nox then waits CLEANUP_TIMEOUT_S for it to stop its runners,
    keep its results and exit before terminating it.
    """
    bin_dir = _ml(session)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    session.run(
        str(bin_dir / "python"),
        *args,
        external=True,
        env=env,
        interrupt_timeout=CLEANUP_TIMEOUT_S,
    )


# Daemons (sshd) live in sbin, which a user's PATH may lack.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _missing_debian_packages() -> list[str]:
    """The packages of .ci/debian-packages.txt whose command is not on PATH."""
    missing = []
    for line in DEBIAN_PACKAGES.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words and shutil.which(words[1], path=_SEARCH_PATH) is None:
            missing.append(words[0])
    return missing


def _install_debian_packages(session: nox.Session) -> None:
    """Install the tests' Debian packages when this is root with apt; else say what to run."""
    missing = _missing_debian_packages()
    if not missing:
        return
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.warn(
            f"missing Debian packages {' '.join(missing)}: the tests that need them skip; "
            f"install them with `sudo {' '.join(command[:3])} {' '.join(missing)}`"
        )
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(*command, external=True, env=env, stdout=subprocess.DEVNULL)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, installing its Debian packages as root (posargs go to pytest)."""
    _install_debian_packages(session)
    _run_py(session, "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style (ruff) and types (mypy)."""
    _run_py(session, "-m", "ruff", "check", "deploy", "bench", "tests", "noxfile.py")
    _run_py(session, "-m", "ruff", "format", "--check", "deploy", "bench", "tests", "noxfile.py")
    _run_py(session, "-m", "mypy")


@nox.session
def zoo(session: nox.Session) -> None:
    """Print the model zoo: our params and MAdds beside the papers' (posargs: model names)."""
    _run_py(session, "-m", "deploy", "zoo", *session.posargs)


@nox.session
def simulator(session: nox.Session) -> None:
    """Serve a simulated Android phone on 127.0.0.1 until Ctrl-C (`-- --port 5555`)."""
    _run_py(session, "-m", "deploy", "simulator", *session.posargs)


@nox.session(name="build-runner")
def build_runner(session: nox.Session) -> None:
    """Build the native bench runner, cached (`-- --arm64` adds the phone bundle)."""
    _run_py(session, "-m", "bench", "build-runner", *session.posargs)


@nox.session(name="bench-host")
def bench_host(session: nox.Session) -> None:
    """Benchmark the manifest's artifacts on this host's CPU (`-- --models ... --iterations`)."""
    _run_py(session, "-m", "bench", "bench-host", *session.posargs)


@nox.session(name="bench-android")
def bench_android(session: nox.Session) -> None:
    """Benchmark artifacts on one large core of Android phones over ADB (`-- --serial IP:5555`)."""
    _run_py(session, "-m", "bench", "bench-android", *session.posargs)


@nox.session(name="bench-ssh")
def bench_ssh(session: nox.Session) -> None:
    """Benchmark artifacts on the fastest core of Linux boards over SSH (`-- --host user@board`)."""
    _run_py(session, "-m", "bench", "bench-ssh", *session.posargs)


@nox.session(name="bench-peers")
def bench_peers(session: nox.Session) -> None:
    """PyTorch eager and ONNX Runtime beside our artifacts, one thread (`-- --models ...`)."""
    _run_py(session, "-m", "bench", "bench-peers", *session.posargs)


@nox.session(name="bench-ios")
def bench_ios(session: nox.Session) -> None:
    """Benchmark Core ML artifacts on a paired iPhone via Xcode (macOS only; `-- --team ID`)."""
    _run_py(session, "-m", "bench", "bench-ios", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare latencies across devices and with the papers (`-- --baseline old.sqlite`)."""
    _run_py(session, "-m", "bench", "compare", *session.posargs)


@nox.session
def export(session: nox.Session) -> None:
    """Export validated ExecuTorch artifacts + manifest (`-- --models ... --recipes ...`)."""
    _run_py(session, "-m", "deploy", "export", *session.posargs)


@nox.session(name="train-digits")
def train_digits(session: nox.Session) -> None:
    """Train a small MobileNet on scikit-learn's digits; write its checkpoint (`-- --out F`)."""
    _run_py(session, "-m", "deploy", "train-digits", *session.posargs)


@nox.session
def evaluate(session: nox.Session) -> None:
    """Top-1/top-5 of the artifacts on a labelled folder, beside eager fp32 (`-- --data DIR`)."""
    _run_py(session, "-m", "bench", "evaluate", *session.posargs)


@nox.session
def profile(session: nox.Session) -> None:
    """Per-layer profiles from the store: time, GMAC/s, % of peak (`-- --models ...`)."""
    _run_py(session, "-m", "bench", "profile", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """Measure the papers' grid on a device; its latency-accuracy frontier (`-- --budget-ms 10`)."""
    _run_py(session, "-m", "bench", "sweep", *session.posargs)
