"""The top-1 a point is placed at: one basis per frontier, the papers' figure marked as such."""

from __future__ import annotations

from bench.sweep.accuracy import paper_accuracies, paper_accuracy

V3S = "mobilenet_v3_small_1.0_224"


def test_a_published_int8_figure_is_used_when_every_model_has_one():
    found = paper_accuracies([V3S, "mobilenet_v2_1.0_224"], "int8")
    assert {m: (a.top1, a.stand_in) for m, a in found.items()} == {
        V3S: (64.9, False),
        "mobilenet_v2_1.0_224": (70.9, False),
    }
    assert found[V3S].marker == "paper" and "Table 4" in found[V3S].describe()


def test_one_frontier_never_mixes_int8_and_fp32_figures():
    found = paper_accuracies([V3S, "mobilenet_v3_small_0.75_224"], "int8")
    assert all(a.stand_in and a.precision == "fp32" for a in found.values())
    assert (found[V3S].top1, found[V3S].set_aside) == (67.4, 64.9)
    assert found[V3S].marker == "paper, fp32 figure"
    assert "published: 64.9" in found[V3S].describe()


def test_a_model_without_any_top1_is_left_out():
    assert paper_accuracies(["mobilenet_v1_0.25_128", V3S], "fp32").keys() == {V3S}
    assert paper_accuracy("mobilenet_v1_0.25_128", "int8") is None
