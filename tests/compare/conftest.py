"""Two results stores (baseline and candidate) written through bench.store, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compare.stores import build_baseline, build_candidate


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stores")
    return {
        "baseline": build_baseline(folder / "baseline.sqlite"),
        "candidate": build_candidate(folder / "candidate.sqlite"),
    }
