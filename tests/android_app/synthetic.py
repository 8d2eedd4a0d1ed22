"""A Python port of the harnesses' synthetic input (bench_runner.cpp's splitmix64 stream), raw
and through a manifest's preprocessing, to check the figures written in the Kotlin and Swift
tests (neither can be built here)."""

from __future__ import annotations

import numpy as np

from deploy.artifacts.preprocessing import Preprocessing

MASK = (1 << 64) - 1


def splitmix_floats(seed: int, n: int) -> list[float]:
    """bench_runner.cpp's make_input for float tensors: uniform in [-1, 1), exact in float32."""
    state = (seed * 0x9E3779B97F4A7C15 + 0x1234567) & MASK
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append(((z >> 40) - (1 << 23)) / (1 << 23))
    return out


def preprocessed_noise(shape: tuple[int, ...], seed: int, how: Preprocessing) -> np.ndarray:
    """The apps' input for an artifact with a manifest: splitmix pixels in [0, 1) (one grey plane
    for LLL, else one per channel), onto value_range, then (v - mean[c]) / std[c]; float32 steps
    in the order BenchCore.kt and Benchmark.swift compute them."""
    n, channels, height, width = shape
    assert channels == 3
    planes = 1 if how.channel_order == "LLL" else 3
    stream = np.array(splitmix_floats(seed, n * planes * height * width), dtype=np.float32)
    pixels = ((stream + np.float32(1)) * np.float32(0.5)).reshape(n, planes, height, width)
    if planes == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    low, high = np.float32(how.value_range[0]), np.float32(how.value_range[1])
    values = low + (high - low) * pixels
    mean = np.array(how.mean, dtype=np.float32)[None, :, None, None]
    std = np.array(how.std, dtype=np.float32)[None, :, None, None]
    return ((values - mean) / std).astype(np.float32)
