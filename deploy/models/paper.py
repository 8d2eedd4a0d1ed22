"""The published MobileNet figures, as data, each with its source.

Copied from the papers and model-zoo pages (see ../shared/reference/paper-tables.md). Latency
is milliseconds, batch 1, one large core, one thread, TensorFlow Lite on Google Pixel phones.
Model keys are this project's names (`mobilenet_v3_large_0.75_224`); precision is "fp32" or
"int8". Where sources disagree, every figure is kept and `latency()` prefers the most recent
source (SOURCE_PREFERENCE), so a table never mixes two papers' methods for one cell silently.

Top-1 is ImageNet top-1 (percent) of the papers' trained weights: `COMPLEXITY` holds the float
figures published with params and MAdds, `QUANTIZED_TOP1` the int8 figures published without
them (MobileNetV3 Table 4). `top1(model, precision)` reads both. `published_models(family)` is
every configuration some table names (the papers' width x resolution grid of that family).
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.models.spec import parse_model_name

SOURCES: dict[str, str] = {
    "v1-paper": "Howard et al. 2017, MobileNets, arXiv 1704.04861, Tables 6, 7 and 9",
    "v2-paper": "Sandler et al. 2018, MobileNetV2, arXiv 1801.04381, Table 4 (Pixel 1)",
    "v2-slim": "TF-slim mobilenet README, MobileNetV2 float latency table (Pixel 1)",
    "v3-table3": "Howard et al. 2019, Searching for MobileNetV3, arXiv 1905.02244, Table 3",
    "v3-table4": "Howard et al. 2019, Searching for MobileNetV3, arXiv 1905.02244, Table 4 (int8)",
    "v3-appendix": "Howard et al. 2019, Searching for MobileNetV3, arXiv 1905.02244, appendix",
    "tflite-hosted": "TF-Lite hosted models page (Pixel 2, one thread on a large core)",
}
# Most recent first: one measurement campaign per cell where possible.
SOURCE_PREFERENCE = (
    "v3-table3",
    "v3-table4",
    "v3-appendix",
    "v2-paper",
    "v2-slim",
    "tflite-hosted",
)
DEVICES = ("Pixel 1", "Pixel 2", "Pixel 3")


@dataclass(frozen=True)
class PaperComplexity:
    model: str
    params_m: float
    madds_m: float
    top1: float | None
    source: str
    note: str = ""
    # Where the paper's figure disagrees with its own reference implementation: the latter.
    implementation_params_m: float | None = None


@dataclass(frozen=True)
class PaperLatency:
    model: str
    precision: str
    device: str
    latency_ms: float
    source: str


def _c(
    model: str,
    top1: float | None,
    madds: float,
    params: float,
    source: str,
    note: str = "",
    implementation_params_m: float | None = None,
) -> PaperComplexity:
    return PaperComplexity(model, params, madds, top1, source, note, implementation_params_m)


COMPLEXITY: tuple[PaperComplexity, ...] = (
    # MobileNetV1 paper, Table 6 (width at 224) and Table 7 (resolution at width 1.0), Table 9.
    _c("mobilenet_v1_1.0_224", 70.6, 569, 4.2, "v1-paper"),
    _c("mobilenet_v1_0.75_224", 68.4, 325, 2.6, "v1-paper"),
    _c("mobilenet_v1_0.5_224", 63.7, 149, 1.3, "v1-paper"),
    _c("mobilenet_v1_0.25_224", 50.6, 41, 0.5, "v1-paper"),
    _c("mobilenet_v1_1.0_192", 69.1, 418, 4.2, "v1-paper"),
    _c("mobilenet_v1_1.0_160", 67.2, 290, 4.2, "v1-paper"),
    _c("mobilenet_v1_1.0_128", 64.4, 186, 4.2, "v1-paper"),
    _c("mobilenet_v1_0.5_160", 60.2, 76, 1.32, "v1-paper"),
    # MobileNetV2 paper, Table 4.
    _c("mobilenet_v2_1.0_224", 72.0, 300, 3.4, "v2-paper"),
    _c(
        "mobilenet_v2_1.4_224",
        74.7,
        585,
        6.9,
        "v2-paper",
        "the paper's 6.9M params disagree with its reference implementation: the TF-slim "
        "README lists 6.06M for mobilenet_v2_1.4_224 (582M MAdds)",
        6.06,
    ),
    _c("mobilenet_v2_0.35_224", 60.8, 59.2, 1.6, "v3-table3"),
    # MobileNetV3 paper, Table 3 (1024-channel Small head) and the appendix table.
    _c("mobilenet_v3_large_1.0_224", 75.2, 219, 5.4, "v3-table3"),
    _c("mobilenet_v3_large_0.75_224", 73.3, 155, 4.0, "v3-table3"),
    _c("mobilenet_v3_small_1.0_224", 67.4, 56, 2.5, "v3-table3"),
    _c("mobilenet_v3_small_0.75_224", 65.4, 44, 2.0, "v3-table3"),
    _c("mobilenet_v3_large_1.25_224", 76.6, 356, 7.5, "v3-appendix"),
    _c("mobilenet_v3_large_0.5_224", 68.8, 69, 2.6, "v3-appendix"),
    _c("mobilenet_v3_large_0.35_224", 64.2, 40, 2.2, "v3-appendix"),
    _c("mobilenet_v3_large_1.0_256", 76.0, 282, 5.4, "v3-appendix"),
    _c("mobilenet_v3_large_1.0_192", 73.7, 160, 5.4, "v3-appendix"),
    _c("mobilenet_v3_large_1.0_160", 71.7, 112, 5.4, "v3-appendix"),
    _c("mobilenet_v3_large_1.0_128", 68.4, 73, 5.4, "v3-appendix"),
    _c("mobilenet_v3_large_1.0_96", 63.3, 43, 5.4, "v3-appendix"),
    _c("mobilenet_v3_small_1.25_224", 70.4, 91, 3.6, "v3-appendix"),
    _c("mobilenet_v3_small_0.5_224", 58.0, 21, 1.6, "v3-appendix"),
    _c("mobilenet_v3_small_0.35_224", 49.8, 12, 1.4, "v3-appendix"),
    _c("mobilenet_v3_small_1.0_256", 68.5, 74, 2.5, "v3-appendix"),
    _c("mobilenet_v3_small_1.0_160", 62.8, 30, 2.5, "v3-appendix"),
    _c("mobilenet_v3_small_1.0_128", 57.3, 20, 2.5, "v3-appendix"),
    _c("mobilenet_v3_small_1.0_96", 51.7, 12, 2.5, "v3-appendix"),
)


def _grid(
    family: str,
    precision: str,
    device: str,
    source: str,
    resolutions: tuple[int, ...],
    rows: dict[str, tuple[float | None, ...]],
) -> list[PaperLatency]:
    """A published width x resolution table, one PaperLatency per filled cell."""
    return [
        PaperLatency(f"{family}_{width}_{res}", precision, device, ms, source)
        for width, cells in rows.items()
        for res, ms in zip(resolutions, cells, strict=True)
        if ms is not None
    ]


def _pixels(
    model: str, precision: str, source: str, p1: float, p2: float, p3: float
) -> list[PaperLatency]:
    return [
        PaperLatency(model, precision, device, ms, source)
        for device, ms in zip(DEVICES, (p1, p2, p3), strict=True)
    ]


LATENCY: tuple[PaperLatency, ...] = tuple(
    [
        # MobileNetV2 paper, Table 4, Pixel 1.
        PaperLatency("mobilenet_v1_1.0_224", "fp32", "Pixel 1", 113, "v2-paper"),
        PaperLatency("mobilenet_v2_1.0_224", "fp32", "Pixel 1", 75, "v2-paper"),
        PaperLatency("mobilenet_v2_1.4_224", "fp32", "Pixel 1", 143, "v2-paper"),
        # MobileNetV3 paper, Table 3 (float) and Table 4 (int8): Pixel 1 / 2 / 3.
        *_pixels("mobilenet_v3_large_1.0_224", "fp32", "v3-table3", 51, 61, 44),
        *_pixels("mobilenet_v3_large_0.75_224", "fp32", "v3-table3", 39, 46, 40),
        *_pixels("mobilenet_v2_1.0_224", "fp32", "v3-table3", 64, 76, 56),
        *_pixels("mobilenet_v3_small_1.0_224", "fp32", "v3-table3", 15.8, 19.4, 14.4),
        *_pixels("mobilenet_v3_small_0.75_224", "fp32", "v3-table3", 12.8, 15.6, 11.7),
        *_pixels("mobilenet_v2_0.35_224", "fp32", "v3-table3", 16.6, 19.6, 13.9),
        *_pixels("mobilenet_v3_large_1.0_224", "int8", "v3-table4", 44, 42.5, 31.7),
        *_pixels("mobilenet_v2_1.0_224", "int8", "v3-table4", 52, 48.3, 37.0),
        *_pixels("mobilenet_v3_small_1.0_224", "int8", "v3-table4", 15.5, 14.9, 10.7),
        *_pixels("mobilenet_v2_0.35_224", "int8", "v3-table4", 16.7, 15.6, 11.9),
        # MobileNetV3 appendix, Pixel 1 float.
        *_grid(
            "mobilenet_v3_large",
            "fp32",
            "Pixel 1",
            "v3-appendix",
            (224,),
            {"1.25": (77.0,), "1.0": (51.2,), "0.75": (39.8,), "0.5": (21.7,), "0.35": (15.1,)},
        ),
        *_grid(
            "mobilenet_v3_large",
            "fp32",
            "Pixel 1",
            "v3-appendix",
            (256, 192, 160, 128, 96),
            {"1.0": (65.6, 38.0, 27.8, 17.8, 12.5)},
        ),
        *_grid(
            "mobilenet_v3_small",
            "fp32",
            "Pixel 1",
            "v3-appendix",
            (224,),
            {"1.25": (23.6,), "1.0": (15.8,), "0.75": (12.8,), "0.5": (7.7,), "0.35": (5.7,)},
        ),
        *_grid(
            "mobilenet_v3_small",
            "fp32",
            "Pixel 1",
            "v3-appendix",
            (256, 160, 128, 96),
            {"1.0": (20.0, 8.6, 5.8, 4.4)},
        ),
        # TF-slim README, MobileNetV2 float, Pixel 1.
        *_grid(
            "mobilenet_v2",
            "fp32",
            "Pixel 1",
            "v2-slim",
            (96, 128, 160, 192, 224),
            {
                "1.4": (None, None, None, None, 138.0),
                "1.3": (None, None, None, None, 123.0),
                "1.0": (17.6, 27.6, 40.2, 55.1, 73.8),
                "0.75": (14.2, 21.9, 30.4, 41.6, 55.8),
                "0.5": (6.4, 9.9, 14.9, 21.1, 28.7),
                "0.35": (4.5, 6.9, 10.5, 14.6, 19.7),
            },
        ),
        # TF-Lite hosted models, MobileNetV1 on Pixel 2: float and quantized.
        *_grid(
            "mobilenet_v1",
            "fp32",
            "Pixel 2",
            "tflite-hosted",
            (128, 160, 192, 224),
            {
                "0.25": (6.2, 8.6, 12.1, 16.2),
                "0.5": (18.1, 26.8, 35.6, 47.6),
                "0.75": (34.6, 51.3, 71.7, 95.7),
                "1.0": (57.4, 86.0, 118.6, 160.1),
            },
        ),
        *_grid(
            "mobilenet_v1",
            "int8",
            "Pixel 2",
            "tflite-hosted",
            (128, 160, 192, 224),
            {
                "0.25": (3.7, 5.5, 7.9, 10.4),
                "0.5": (8.8, 13.0, 18.3, 24.7),
                "0.75": (16.2, 24.3, 33.8, 45.4),
                "1.0": (24.9, 37.4, 51.9, 70.2),
            },
        ),
        PaperLatency("mobilenet_v2_1.0_224", "fp32", "Pixel 2", 117, "tflite-hosted"),
        PaperLatency("mobilenet_v2_1.0_224", "int8", "Pixel 2", 80.3, "tflite-hosted"),
    ]
)


@dataclass(frozen=True)
class PaperTop1:
    """A published ImageNet top-1 (percent) of one model at one precision."""

    model: str
    precision: str
    top1: float
    source: str


# MobileNetV3 paper, Table 4: quantized (int8) top-1, published without params or MAdds.
QUANTIZED_TOP1: tuple[PaperTop1, ...] = (
    PaperTop1("mobilenet_v3_large_1.0_224", "int8", 73.8, "v3-table4"),
    PaperTop1("mobilenet_v2_1.0_224", "int8", 70.9, "v3-table4"),
    PaperTop1("mobilenet_v3_small_1.0_224", "int8", 64.9, "v3-table4"),
    PaperTop1("mobilenet_v2_0.35_224", "int8", 57.2, "v3-table4"),
)

_COMPLEXITY_BY_MODEL = {entry.model: entry for entry in COMPLEXITY}


def complexity_for(model: str) -> PaperComplexity | None:
    """The published params/MAdds of a model name, or None when no paper lists it."""
    return _COMPLEXITY_BY_MODEL.get(model)


def latency(model: str, precision: str, device: str) -> PaperLatency | None:
    """The preferred published latency for one cell (model, precision, Pixel), or None."""
    candidates = [
        entry
        for entry in LATENCY
        if (entry.model, entry.precision, entry.device) == (model, precision, device)
    ]
    candidates.sort(key=lambda entry: SOURCE_PREFERENCE.index(entry.source))
    return candidates[0] if candidates else None


def latencies(model: str, precision: str) -> dict[str, PaperLatency]:
    """The preferred published latency on each Pixel that has one."""
    found = {device: latency(model, precision, device) for device in DEVICES}
    return {device: entry for device, entry in found.items() if entry is not None}


def top1(model: str, precision: str) -> PaperTop1 | None:
    """The published ImageNet top-1 of `model` at `precision` ("fp32" or "int8"), or None when
    no table gives that precision (an int8 figure is never stood in for by the float one)."""
    if precision == "fp32":
        entry = _COMPLEXITY_BY_MODEL.get(model)
        if entry is None or entry.top1 is None:
            return None
        return PaperTop1(model, "fp32", entry.top1, entry.source)
    return next((e for e in QUANTIZED_TOP1 if (e.model, e.precision) == (model, precision)), None)


def published_models(family: str) -> list[str]:
    """Every configuration of `family` that a table above names (top-1, params/MAdds or a
    latency): the papers' width x resolution grid, narrowest and smallest first."""
    names = {e.model for e in COMPLEXITY} | {e.model for e in LATENCY}
    names |= {e.model for e in QUANTIZED_TOP1}
    specs = [parse_model_name(name) for name in names]
    found = sorted((s.width, s.resolution, s.name) for s in specs if s.family == family)
    return [name for _, _, name in found]
