"""The sweep's grid is the papers' (read from deploy.models.paper), and its geometry: corners,
diagonal and neighbours of each family's width x resolution grid."""

from __future__ import annotations

import pytest

from bench.sweep.errors import SweepError
from bench.sweep.grid import GridPoint, corners_and_diagonal, grid, neighbours, parse_families


def _names(points, family):
    return {p.name.removeprefix(family + "_") for p in points}


def test_v1_is_the_full_four_by_four_grid():
    points = grid(["mobilenet_v1"])
    assert {(p.width, p.resolution) for p in points} == {
        (w, r) for w in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)
    }


def test_v2_is_the_tf_slim_grid_with_the_wide_models_at_224_only():
    points = grid(["mobilenet_v2"])
    assert len(points) == 22
    assert {p.resolution for p in points if p.width in (1.3, 1.4)} == {224}
    assert {(p.width, p.resolution) for p in points if p.width <= 1.0} == {
        (w, r) for w in (0.35, 0.5, 0.75, 1.0) for r in (96, 128, 160, 192, 224)
    }


def test_v3_is_the_appendix_cross():
    large = _names(grid(["mobilenet_v3_large"]), "mobilenet_v3_large")
    small = _names(grid(["mobilenet_v3_small"]), "mobilenet_v3_small")
    widths = {"1.25_224", "1.0_224", "0.75_224", "0.5_224", "0.35_224"}
    assert large == widths | {"1.0_256", "1.0_192", "1.0_160", "1.0_128", "1.0_96"}
    assert small == widths | {"1.0_256", "1.0_160", "1.0_128", "1.0_96"}


def test_every_grid_point_is_a_valid_model_spec():
    for point in grid():
        assert point.spec().name == point.name


def test_corners_and_diagonal_of_a_full_grid():
    picked = corners_and_diagonal(grid(["mobilenet_v1"]))
    assert _names(picked, "mobilenet_v1") == {
        "0.25_128", "0.25_224", "1.0_128", "1.0_224",  # corners
        "0.5_160", "0.75_192",  # the rest of the diagonal
    }  # fmt: skip


def test_corners_of_a_cross_are_the_ends_of_its_arms():
    picked = corners_and_diagonal(grid(["mobilenet_v3_small"]))
    assert _names(picked, "mobilenet_v3_small") == {
        "0.35_224", "1.25_224", "1.0_96", "1.0_256",  # arm ends
        "1.0_224",  # on the diagonal
    }  # fmt: skip


def test_seed_is_per_family():
    both = corners_and_diagonal(grid(["mobilenet_v1", "mobilenet_v3_small"]))
    alone = corners_and_diagonal(grid(["mobilenet_v1"])) + corners_and_diagonal(
        grid(["mobilenet_v3_small"])
    )
    assert set(both) == set(alone)


def test_neighbours_are_the_next_published_width_and_resolution():
    points = grid(["mobilenet_v3_small"])
    centre = GridPoint("mobilenet_v3_small", 1.0, 224)
    assert _names(neighbours(centre, points), "mobilenet_v3_small") == {
        "0.75_224", "1.25_224", "1.0_160", "1.0_256",
    }  # fmt: skip
    end = GridPoint("mobilenet_v3_small", 0.35, 224)
    assert _names(neighbours(end, points), "mobilenet_v3_small") == {"0.5_224"}


def test_families_accept_short_names_and_refuse_others():
    assert parse_families(["v1,v3_small"]) == ["mobilenet_v1", "mobilenet_v3_small"]
    assert len(parse_families(None)) == 4
    with pytest.raises(SweepError, match="not a MobileNet family.*mobilenet_v2"):
        parse_families(["mobilenet_v4"])


def test_the_target_option_names_host_board_or_phone(tmp_path):
    import argparse

    from bench.sweep.cli import add_arguments, make_target
    from bench.targets.android import AndroidShellTarget
    from bench.targets.host import HostTarget
    from bench.targets.ssh import SshTarget

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def target(text: str):
        return make_target(parser.parse_args(["--target", text, "--store", str(tmp_path / "s")]))

    assert isinstance(target("host"), HostTarget)
    board = target("pi@rpi5.local:2222")
    assert isinstance(board, SshTarget)
    assert (board.connection.target, board.connection.port) == ("pi@rpi5.local", 2222)
    assert target("pi@rpi5.local").connection.port == 22
    for serial in ("R58M123ABC", "127.0.0.1:5555"):
        phone = target(serial)
        assert isinstance(phone, AndroidShellTarget) and phone.serial == serial
    with pytest.raises(SweepError, match="--target is empty"):
        target(" ")
