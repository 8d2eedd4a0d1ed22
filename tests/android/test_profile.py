"""bench-android --profile against the x86_64 ADB simulator: the profiling round runs on the
device after the timed rounds, the ETDump is pulled back (and removed there), and the layers of
the tiny net are mapped from it on this host."""

from __future__ import annotations

import hashlib

from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets.android import android_target
from bench.targets.base import Artifact
from deploy.devices.base import DEVICE_ROOT
from tests.profile.conftest import known_pte  # noqa: F401 (fixture)
from tests.profile.known_model import KNOWN


def test_simulator_profile_pulls_the_etdump_and_maps_the_layers(
    start_phone,
    known_pte,  # noqa: F811 (fixture)
    options,
    tmp_path,  # noqa: F811 (fixture)
):
    sim = start_phone(profile="x86_64")
    path = known_pte["int8"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    art = Artifact(ArtifactRecord(sha, "known_net", "xnnpack-int8", precision="int8"), path)
    store_path = tmp_path / "bench.sqlite"
    target = android_target(sim.serial, "shell", options.phone)
    messages: list[str] = []
    (outcome,) = run_session(
        [target],
        [art],
        options.config,
        store_path,
        rounds=2,
        profile=True,
        profile_iterations=4,
        say=lambda _s, m: messages.append(m),
    )
    assert outcome.error is None, outcome.error
    assert any("profiling round on mask 80" in m for m in messages)
    with Store.open(store_path) as store:
        (profile,) = store.profiles()
        (session,) = {r.session_id for r in store.runs()}
    assert profile.provenance == "simulator" and profile.device_id == sim.serial
    assert profile.session_id == session and profile.iterations == 5
    layers = [r for r in profile.layers if r.op in ("conv", "dwconv", "linear")]
    assert [(r.op, r.kernel, r.stride, r.groups, r.madds) for r in layers] == [
        (k[0], k[1], k[2], k[3], k[6]) for k in KNOWN
    ]
    kept = store_path.parent / "etdumps" / f"{profile.etdump_sha256[:16]}.etdp"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == profile.etdump_sha256
    folder = sim.host_path(f"{DEVICE_ROOT}/bench-x86_64")
    assert not list(folder.glob("profile-*.etdp"))  # removed from the device after the pull
