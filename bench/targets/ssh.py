"""Linux boards over SSH (Raspberry Pi, Jetson, any arm64 or x86_64 Linux box): provenance
`board`.

The same steps as a phone's shell (`bench.targets.android.AndroidShellTarget`, whose deploying,
cooldown, pinned run and runner-killing this class reuses): push the runner payload for the
board's ABI (the arm64 bundle with its own glibc loader, or the host build on x86_64) only when
its sha256 differs, pin to the fastest core (highest cpufreq max, ties to the highest id, online
and in our allowed set), one XNNPACK thread, temperatures before and after. The transport is
`deploy.devices.ssh.SshDevice` (paramiko; known_hosts checked, keys only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.android import phone
from bench.android.payload import payload_for
from bench.store import DeviceRecord
from bench.targets.android import AndroidShellTarget, Options
from deploy.devices import info as info_parsing
from deploy.devices.base import Device
from deploy.devices.ssh import SshDevice, summary


@dataclass(frozen=True)
class Connection:
    """How to reach a board: `user@host`, port, key, known_hosts, and trust on first use."""

    target: str
    port: int = 22
    key_path: Path | None = None
    known_hosts: Path | None = None
    trust_new_host: bool = False
    connect_timeout_s: float = 10.0
    io_timeout_s: float = 30.0

    def connect(self, **changes: float) -> SshDevice:
        options = {
            "connect_timeout_s": self.connect_timeout_s,
            "io_timeout_s": self.io_timeout_s,
            **changes,
        }
        return SshDevice.connect(
            self.target,
            self.port,
            key_path=self.key_path,
            known_hosts=self.known_hosts,
            trust_new_host=self.trust_new_host,
            notify=lambda _message: None,
            **options,  # type: ignore[arg-type]
        )


class SshTarget(AndroidShellTarget):
    """A Linux board over SSH, measured like a phone's shell (see the module docstring)."""

    transport = "ssh"

    def __init__(
        self, connection: Connection, options: Options | None = None, *, needed_bytes: int = 0
    ) -> None:
        super().__init__(
            f"{connection.target}:{connection.port}", options, needed_bytes=needed_bytes
        )
        self.connection = connection

    def open(self) -> DeviceRecord:
        device = self.connection.connect()
        self.device = device  # type: ignore[assignment]
        info = self.info = device.info()
        self.provenance, self.timed = "board", True
        model = info.model
        self.name = model or info.properties.get("linux.hostname") or self.serial
        self.payload = payload_for(info.abis, info.abi)
        self.temperature = info_parsing.temperature_source(info)
        needed = self.needed_bytes + self.payload.size_bytes
        self.check = phone.check_device(info, needed, self.options.cool_pause_s)
        return DeviceRecord(
            id=f"ssh:{device.serial}",
            kind="board",
            name=self.name,
            model=model,
            soc=info.soc,
            abi=info.abi,
            os=info.properties.get("linux.os", "Linux"),
            metadata={**self.check.facts, "abis": list(info.abis), "root": device.root},
        )

    def summary(self) -> str:
        assert self.info is not None
        return f"{summary(self.info)}; provenance board"

    def reconnect(self, timeout_s: float) -> Device:
        return self.connection.connect(connect_timeout_s=min(5.0, timeout_s))
