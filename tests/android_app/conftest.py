"""App-mode fixtures: simulated phones (their pm and am say no the way phones do)."""

from __future__ import annotations

from tests.devices.conftest import (  # noqa: F401 (fixtures)
    _private_adb_env,
    adb_key,
    connect,
    notices,
    start_phone,
)
