"""bench-ssh end to end against a real OpenSSH server on 127.0.0.1 (tests/devices/sshd.py): this
machine is the board, reached over SSH with a generated host key and user key. The same session,
store and compare as every target, provenance `board`; refusals are one line; a connection
dropped mid-run is a failed round and a rerun measures what is missing."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import Store
from tests.devices.sshd import Sshd, write_key

FAST = ["--rounds", "2", "--warmup", "1", "--iterations", "5", "--min-time", "0"]
FAST += ["--max-time", "0", "--target-precision", "0", "--cool-to", "95", "--cool-max-wait", "1"]
FAST += ["--cool-pause", "0"]  # this VM has no thermal zones: no fixed pause in tests


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd").start()
    yield server
    server.stop()


def _runner_running() -> bool:
    """Is a bench_runner started over SSH running on this machine (the board) now?"""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"bench_runner\0--model\0models/" in cmdline:
                return True
    return False


def _args(server: Sshd, store: Path, *pte: Path, key: Path | None = None) -> list[str]:
    args = ["bench-ssh", "--host", server.target, "--port", str(server.port)]
    args += ["--key", str(key or server.user_key), "--known-hosts", str(server.known_hosts)]
    return [*args, "--store", str(store), *FAST, "--pte", *map(str, pte)]


def test_a_board_is_measured_stored_and_compared(sshd, tiny_pte, tmp_path, capsys):
    store = tmp_path / "bench.sqlite"
    assert main(_args(sshd, store, tiny_pte["fp32"], tiny_pte["int8"])) == 0
    out = capsys.readouterr().out
    assert "bench-ssh:" in out and "provenance board" in out
    with Store.open(store) as db:
        runs = db.runs()
        assert [r.provenance for r in runs] == ["board"] * 4
        assert [r.round for r in runs] == [0, 0, 1, 1] and len({r.session_id for r in runs}) == 1
        assert runs[0].device_kind == "board" and runs[0].machine["mode"] == "ssh"
        assert all(len(db.samples(r.id)) == 5 for r in runs)
    # resume: everything is stored, nothing is measured again
    assert main(_args(sshd, store, tiny_pte["fp32"], tiny_pte["int8"])) == 0
    assert "2 run(s) already in the store" in capsys.readouterr().err
    # the board's runs in the comparison, labelled as a board
    assert main(["compare", "--store", str(store)]) == 0
    assert "(board)" in capsys.readouterr().out


def test_auth_refused_and_host_key_changed_are_one_line(sshd, tiny_pte, tmp_path, capsys):
    stranger = tmp_path / "stranger"
    write_key(stranger)
    store = tmp_path / "bench.sqlite"
    assert main(_args(sshd, store, tiny_pte["fp32"], key=stranger)) == 2
    err = capsys.readouterr().err
    assert "refused the key" in err and "ssh-copy-id" in err and "Traceback" not in err
    sshd.restart_with_new_host_key()
    assert main(_args(sshd, store, tiny_pte["fp32"])) == 2
    err = capsys.readouterr().err
    assert "has CHANGED" in err and "ssh-keygen -R" in err and "Traceback" not in err
    with Store.open(store) as db:
        assert db.runs() == []  # nothing was measured on a board we could not trust


def test_a_connection_dropped_mid_run_is_a_failed_round_and_a_rerun_resumes(
    sshd, tiny_pte, tmp_path, capsys
):
    store = tmp_path / "bench.sqlite"
    args = _args(sshd, store, tiny_pte["fp32"])
    args[args.index("--min-time") + 1] = "5"  # each round runs 5 s: time to cut it
    args[args.index("--max-time") + 1] = "5"
    cut = threading.Event()

    def drop_during_the_first_round() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not cut.is_set():
            if _runner_running():
                time.sleep(0.2)
                sshd.kill_sessions()
                cut.set()
            time.sleep(0.05)

    dropper = threading.Thread(target=drop_during_the_first_round, daemon=True)
    dropper.start()
    assert main(args) == 2
    dropper.join(5)
    assert cut.is_set()
    err = capsys.readouterr().err
    assert "disconnected" in err and "Traceback" not in err
    with Store.open(store) as db:
        statuses = [r.status for r in db.runs()]
    assert "failed" in statuses
    # the rerun measures the rounds still missing
    assert main(args) == 0
    with Store.open(store) as db:
        ok = [r for r in db.runs() if r.status == "ok"]
    assert len(ok) >= 2


def test_ab_on_a_board(sshd, tiny_pte, tmp_path, capsys):
    import shutil

    old, new = tmp_path / "old.pte", tmp_path / "new.pte"
    shutil.copy(tiny_pte["fp32"], old)
    shutil.copy(tiny_pte["int8"], new)
    store = tmp_path / "ab.sqlite"
    args = _args(sshd, store, old)
    args = args[: args.index("--pte")] + ["--ab", str(old), str(new), "--rounds", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"A/B new\.pte / old\.pte = \d+\.\d{3} .*\(3 and 3 rounds\): [A-Z]+", out)
    with Store.open(store) as db:
        assert [r.model for r in db.runs()] == ["unlisted:old.pte", "unlisted:new.pte"] * 3
