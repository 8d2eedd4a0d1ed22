"""Every failure of the device layer that a user can act on: one class each, one line each.

Messages name the cause and the fix; the CLI prints them as they are.
"""

from __future__ import annotations

from deploy.errors import DeployError


class DeviceError(DeployError):
    """Base of every error raised by deploy.devices."""


class NoDeviceError(DeviceError):
    """No device is connected, or the requested serial is not among them."""


class MultipleDevicesError(DeviceError):
    """Several devices are connected and none was chosen with --serial or ANDROID_SERIAL."""


class DeviceUnauthorizedError(DeviceError):
    """The phone did not accept this computer's ADB key."""


class DeviceBusyError(DeviceError):
    """The USB device is held by another program (usually a running adb server)."""


class DeviceDisconnectedError(DeviceError):
    """The connection to the device closed in the middle of an operation."""


class DeviceFullError(DeviceError):
    """The device has no space left for a file being pushed."""


class DeviceTimeoutError(DeviceError):
    """The device stopped answering within the allowed time."""


class DeviceCommandError(DeviceError):
    """A command or file operation on the device failed."""


class PushVerificationError(DeviceError):
    """A pushed or pulled file does not have the expected size or sha256 on arrival."""


class UnsafePathError(DeviceError):
    """A file name with shell metacharacters, or a path outside our device folder."""


class DeviceKeyError(DeviceError):
    """An ADB key file that cannot be read or created."""


class SimulatorError(DeviceError):
    """The ADB simulator could not start (port in use, unknown profile, bad options)."""


class HostKeyUnknownError(DeviceError):
    """An SSH board whose host key is not in known_hosts (and trust_new_host was not given)."""


class HostKeyChangedError(DeviceError):
    """An SSH board whose host key differs from the one known_hosts has for it."""


class SshAuthError(DeviceUnauthorizedError):
    """An SSH board that accepted none of the keys offered for the user."""


class SshKeyError(DeviceKeyError):
    """An SSH key file that cannot be read (missing, unknown format, or passphrase-protected)."""


class DeviceFolderError(DeviceError):
    """No folder on the device is ours, writable and executable for the files we push."""
