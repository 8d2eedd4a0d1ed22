"""Run benchmarks, keep their results, and compare them across devices and with the papers."""
