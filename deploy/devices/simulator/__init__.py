"""An ADB device simulator: a phone on 127.0.0.1 speaking the real wire protocol.

For tests and for users' own CI:

    with simulated_device(profile="x86_64") as phone:       # in this process
        ... AndroidDevice.connect(phone.serial) ...
    proc = start_simulator_process(port=0, profile="arm64")  # in a child process
    ... proc.serial ... proc.stop()

or from a shell: `nox -s simulator -- --port 5555` (prints the serial when ready).
"""

from deploy.devices.simulator.faults import Faults
from deploy.devices.simulator.process import (
    SimulatorProcess,
    fault_args,
    simulated_device,
    start_simulator_process,
)
from deploy.devices.simulator.profiles import (
    PROFILES,
    SIMULATOR_MODEL,
    Cluster,
    Profile,
    get_profile,
)
from deploy.devices.simulator.sandbox import phone_processes
from deploy.devices.simulator.server import AUTH_MODES, SimulatedDevice

__all__ = [
    "AUTH_MODES",
    "PROFILES",
    "SIMULATOR_MODEL",
    "Cluster",
    "Faults",
    "Profile",
    "SimulatedDevice",
    "SimulatorProcess",
    "fault_args",
    "get_profile",
    "phone_processes",
    "simulated_device",
    "start_simulator_process",
]
