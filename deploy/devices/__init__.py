"""Devices that run exported models: the `Device` interface, Android over ADB, and an ADB simulator.

Import from the submodules: `deploy.devices.android.connect(...)`, `deploy.devices.base.DeviceInfo`,
`deploy.devices.simulator.SimulatedDevice`.
"""
