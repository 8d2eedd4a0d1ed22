"""Faults a simulated phone can be told to have, to prove the client survives them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """What goes wrong on the simulated phone; the defaults are a healthy phone.

    - drop_after_bytes: close the connection once this many bytes went either way (cable pulled);
    - hang_after_bytes: stop answering (socket stays open) once this many bytes went either way;
    - unauthorized: the "Allow USB debugging?" prompt is never answered;
    - disk_full: every write to the phone fails with "No space left on device";
    - quota_bytes: the same, once the files under /data/local/tmp would exceed this size;
    - latency_ms: added before every packet the phone sends;
    - bandwidth_mb_s: cap on the link, both directions together (MB = 10**6 bytes).
    """

    drop_after_bytes: int | None = None
    hang_after_bytes: int | None = None
    unauthorized: bool = False
    disk_full: bool = False
    quota_bytes: int | None = None
    latency_ms: float = 0.0
    bandwidth_mb_s: float | None = None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in vars(self).items() if v not in (None, False, 0, 0.0)]
        return ", ".join(parts) or "none"
