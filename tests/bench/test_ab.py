"""Same-session A/B (`bench-host --ab OLD NEW`): rounds of both interleaved in one session, the
ratio NEW/OLD with its CI from the rounds and a verdict. Timing decides nothing here: the
verdict rule is checked on synthetic rounds, the command on its structure."""

from __future__ import annotations

import re
import shutil

from bench.cli import main
from bench.compare.ab import ab_decision, ab_line
from bench.store import Store


def _rounds(median: float, n: int = 6) -> list[list[float]]:
    return [[median * (1 + 0.002 * i), median * (1 + 0.002 * i) * 1.01] for i in range(n)]


def test_the_verdict_is_decided_on_rounds():
    assert ab_decision(_rounds(10.0), _rounds(11.5)).verdict == "slower"
    assert ab_decision(_rounds(10.0), _rounds(8.5)).verdict == "faster"
    assert ab_decision(_rounds(10.0), _rounds(10.01)).verdict == "same"
    few = ab_decision(_rounds(10.0, 2), _rounds(12.0, 2))
    assert few.verdict == "inconclusive" and "too few rounds" in few.reason
    line = ab_line("old.pte", "new.pte", ab_decision(_rounds(10.0), _rounds(11.5)))
    assert re.match(
        r"A/B new.pte / old.pte = 1\.1\d\d \[1\.\d+, 1\.\d+\] \(6 and 6 rounds\): SLOWER", line
    )


def test_bench_host_ab_interleaves_and_prints_a_verdict(tiny_pte, tmp_path, capsys):
    old, new = tmp_path / "old.pte", tmp_path / "new.pte"
    shutil.copy(tiny_pte["fp32"], old)
    shutil.copy(tiny_pte["int8"], new)
    store = tmp_path / "ab.sqlite"
    argv = ["bench-host", "--ab", str(old), str(new), "--store", str(store), "--rounds", "3"]
    argv += ["--iterations", "5", "--warmup", "1", "--min-time", "0", "--target-precision", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "A/B new.pte / old.pte" in line)
    assert re.search(r"= \d+\.\d{3} \[\d+\.\d+, \d+\.\d+\] \(3 and 3 rounds\): [A-Z]+", line)
    with Store.open(store) as db:
        runs = db.runs()
    assert [r.model for r in runs] == ["unlisted:old.pte", "unlisted:new.pte"] * 3  # interleaved
    assert len({r.session_id for r in runs}) == 1


def test_ab_of_one_program_is_one_line(tiny_pte, tmp_path, capsys):
    copy = tmp_path / "copy.pte"
    shutil.copy(tiny_pte["fp32"], copy)
    argv = ["bench-host", "--ab", str(tiny_pte["fp32"]), str(copy)]
    assert main([*argv, "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "same program" in capsys.readouterr().err
