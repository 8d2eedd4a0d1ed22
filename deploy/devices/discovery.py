"""Which device to talk to: USB (libusb1), TCP serials `host:port`, --serial, ANDROID_SERIAL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from deploy.devices.errors import MultipleDevicesError, NoDeviceError

_TCP_SERIAL = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")

BUSY_HINT = (
    "run `adb kill-server` (or close Android Studio) to free it, then retry "
    "(no adb server running? add a udev rule for the phone)"
)


@dataclass(frozen=True)
class DeviceEntry:
    """One device as listed: serial, state (device, unauthorized, busy, offline, ...), model."""

    serial: str
    state: str
    transport: str
    model: str = ""
    detail: str = ""

    def line(self) -> str:
        model = f"  model:{self.model.replace(' ', '_')}" if self.model else ""
        detail = f"  ({self.detail})" if self.detail else ""
        return f"{self.serial}\t{self.state}{model}  transport:{self.transport}{detail}"


def split_tcp_serial(serial: str) -> tuple[str, int] | None:
    """(host, port) of a `host:port` serial, else None (a USB serial)."""
    match = _TCP_SERIAL.match(serial)
    if not match:
        return None
    return match.group("host").strip("[]"), int(match.group("port"))


def usb_devices() -> list[DeviceEntry]:
    """ADB interfaces on USB, with whether we could claim them; [] when libusb is unusable."""
    try:
        import usb1
        from adb_shell.transport.usb_transport import UsbTransport
    except (ImportError, OSError):
        return []
    entries = []
    try:
        found = list(UsbTransport.find_all_adb_devices())
    except usb1.USBError:
        return []
    for transport in found:
        device = transport._device
        try:
            serial = device.getSerialNumber() or "?"
            product = device.getProduct() or ""
        except usb1.USBError:
            entries.append(DeviceEntry("?", "no permissions", "usb", detail="add a udev rule"))
            continue
        state, detail = "available", ""
        try:
            handle = device.open()
            try:
                number = transport._setting.getNumber()
                handle.claimInterface(number)
                handle.releaseInterface(number)
            finally:
                handle.close()
        except (usb1.USBErrorAccess, usb1.USBErrorBusy):
            state, detail = "busy", f"held by an adb server: {BUSY_HINT}"
        except usb1.USBError as exc:
            state, detail = "offline", str(exc)
        entries.append(DeviceEntry(serial, state, "usb", model=product, detail=detail))
    return entries


def resolve_serial(serial: str | None = None) -> str:
    """The serial to use: --serial, else ANDROID_SERIAL, else the only USB device."""
    chosen = serial or os.environ.get("ANDROID_SERIAL", "").strip()
    if chosen:
        return chosen
    usb = usb_devices()
    if not usb:
        raise NoDeviceError(
            "no Android device found: plug one in with USB debugging on, or pass --serial "
            "HOST:PORT (e.g. a simulator: `nox -s simulator -- --port 5555`)"
        )
    if len(usb) > 1:
        names = ", ".join(e.serial for e in usb)
        raise MultipleDevicesError(
            f"{len(usb)} devices connected ({names}): choose one with --serial or ANDROID_SERIAL"
        )
    return usb[0].serial
