"""One list of Debian packages (.ci/debian-packages.txt) for `nox -s tests`, .ci/run and the tests:
a missing command skips its tests on a developer's machine and fails them under CI=true."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tests import conftest
from tests.conftest import DEBIAN_PACKAGES, debian_packages, require_command


def _noxfile():
    spec = importlib.util.spec_from_file_location(
        "noxfile", DEBIAN_PACKAGES.parents[1] / "noxfile.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_list_names_a_package_and_a_command_per_line():
    packages = debian_packages()
    assert packages["adb"] == "adb"
    assert packages["aarch64-linux-gnu-g++"] == "g++-aarch64-linux-gnu"
    assert packages["qemu-aarch64-static"] == "qemu-user-static"


def test_nox_installs_from_the_same_list(monkeypatch):
    monkeypatch.setenv("PATH", "")  # nothing on PATH; sbin (daemons) is still searched
    in_sbin = {c for c in debian_packages() if shutil.which(c, path="/usr/sbin:/sbin")}
    expected = [package for command, package in debian_packages().items() if command not in in_sbin]
    assert sorted(_noxfile()._missing_debian_packages()) == sorted(expected)


def test_a_missing_command_skips_outside_ci(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(conftest, "_MISSING", {})  # this suite's own summary stays untouched
    with pytest.raises(pytest.skip.Exception, match="needs adb"):
        require_command("adb")
    assert conftest._MISSING == {"adb": "adb"}  # named in the summary line at the end


def test_a_missing_command_fails_under_ci(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install"):
        require_command("adb")


def test_a_command_outside_the_list_is_a_mistake_in_the_tests():
    with pytest.raises(LookupError, match="debian-packages.txt"):
        require_command("no-such-tool")
