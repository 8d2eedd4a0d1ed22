"""The papers' top-1 as data: the float figures beside params/MAdds, the int8 figures of the V3
paper's Table 4 apart, and the grid of published configurations per family."""

from __future__ import annotations

from deploy.models import paper
from deploy.models.spec import FAMILIES, parse_model_name


def test_float_top1_comes_from_the_complexity_tables():
    found = paper.top1("mobilenet_v3_small_1.0_224", "fp32")
    assert (found.top1, found.source) == (67.4, "v3-table3")
    assert paper.top1("mobilenet_v1_0.5_160", "fp32").top1 == 60.2


def test_int8_top1_is_table_4_and_never_the_float_figure():
    assert paper.top1("mobilenet_v3_large_1.0_224", "int8").top1 == 73.8
    assert paper.top1("mobilenet_v2_1.0_224", "int8").top1 == 70.9
    assert paper.top1("mobilenet_v3_small_1.0_224", "int8").top1 == 64.9
    assert paper.top1("mobilenet_v2_0.35_224", "int8").top1 == 57.2
    assert paper.top1("mobilenet_v1_1.0_224", "int8") is None  # none published
    assert paper.top1("mobilenet_v1_0.25_128", "fp32") is None  # latency only


def test_quantized_top1_entries_name_a_source_and_a_valid_model():
    for entry in paper.QUANTIZED_TOP1:
        assert entry.source in paper.SOURCES
        assert entry.precision == "int8"
        parse_model_name(entry.model)


def test_published_models_cover_every_table_entry_once():
    named = {e.model for e in paper.COMPLEXITY} | {e.model for e in paper.LATENCY}
    grid = [m for family in FAMILIES for m in paper.published_models(family)]
    assert len(grid) == len(set(grid)) == len(named)
    assert set(grid) == named
