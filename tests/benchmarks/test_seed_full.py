"""The full-scale seed study's driver in its tiny mode, as a command: a private lab (backend + two
worker slots) launches the seed study, is stopped at its deadline with runs unfinished and packs
its state; a second invocation, in a fresh folder (as a new session's checkout), unpacks that state
and finishes every run; the export writes the report. Then the calibration benchmark's tiny mode."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

from tests.utils.services import ROOT, free_port

RUNS = 13  # the seed study's 9 entries, its two headline entries 3 times each (one row each in the report)


def driver(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.seed_full", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_full_scale_driver_resumes_a_packed_lab_in_a_fresh_folder_and_exports(tmp_path) -> None:
    state, port = tmp_path / "state.tar.gz", str(free_port())
    first = driver("run", "--tiny", "--state", str(state), "--var", str(tmp_path / "a"), "--port", port,
                   "--poll", "0.5", "--hours", str(3 / 3600))  # stopped 3 s after the launch
    assert "launched seed-report" in first.stdout and "deadline reached" in first.stdout
    with tarfile.open(state) as tar:
        assert "cnnlab.db" in tar.getnames()
    second = driver("run", "--tiny", "--state", str(state), "--var", str(tmp_path / "b"), "--port", port,
                    "--poll", "0.5", "--hours", "0.15")
    assert f"unpacked {state}" in second.stdout and "launched" not in second.stdout  # the same launch goes on
    assert "every run has ended" in second.stdout
    status = driver("status", "--state", str(state), "--var", str(tmp_path / "b")).stdout.splitlines()
    assert len(status) == RUNS and all(": succeeded, 2/2 epochs" in line for line in status), status
    with tarfile.open(state) as tar:  # nothing left to resume: no checkpoints packed
        assert not [n for n in tar.getnames() if n.startswith("checkpoints/")]
    out = tmp_path / "out"
    driver("export", "--tiny", "--state", str(state), "--var", str(tmp_path / "b"), "--port", port, "--out", str(out))
    report = json.loads((out / "seed-report-full.json").read_text())
    assert report["finished"] and len(report["table"]) == RUNS
    assert (out / "seed-report-full.csv").read_text().count("\n") >= RUNS
    assert "<html" in (out / "seed-report-full.html").read_text()[:2000].lower()


def test_the_guard_judges_speed_on_this_sessions_epochs_and_counts_earlier_ones_as_spent(tmp_path) -> None:
    """``too_slow`` on a database shaped like the lab's (the end-to-end test above runs it on the real one):
    a run resumed with 56 of its 120 epochs done in 37 minutes fits its hour at 20 s an epoch here (58 min)
    but not at 30 s (69 min); an earlier session's slower epochs count as spent budget, never as this
    machine's speed."""
    import sqlite3

    from benchmarks.seed_full import recorded_epochs, too_slow

    var = tmp_path
    with sqlite3.connect(var / "cnnlab.db") as conn:
        conn.execute("CREATE TABLE runs (id INTEGER, name TEXT, epochs INTEGER, config TEXT, status TEXT)")
        conn.execute("CREATE TABLE epoch_metrics (run_id INTEGER, epoch INTEGER, seconds REAL)")
        conn.execute("INSERT INTO runs VALUES (1, 'wide', 120, ?, 'running')", (json.dumps({"time_budget_s": 3600}),))
        conn.executemany("INSERT INTO epoch_metrics VALUES (1, ?, ?)", [(e, 37 * 60 / 56) for e in range(1, 57)])
    before = recorded_epochs(var)
    assert before == {1: 56}
    assert too_slow(var, before) is None  # nothing recorded in this session yet (39.6 s an epoch before)

    def add(epoch: int, seconds: float) -> None:
        with sqlite3.connect(var / "cnnlab.db") as conn:
            conn.execute("INSERT INTO epoch_metrics VALUES (1, ?, ?)", (epoch, seconds))

    add(57, 20.0)
    assert too_slow(var, before) is None  # one epoch is not yet a speed
    add(58, 20.0)
    assert too_slow(var, before) is None  # 37 + 0.67 + 62 × 20 s = 58.3 min: it fits
    add(59, 50.0)
    why = too_slow(var, before)  # 30 s an epoch: 37 + 1.5 + 61 × 30 s = 69 min
    assert why is not None and "run 1 (wide) trains 30 s an epoch" in why and "69 min" in why, why
    with sqlite3.connect(var / "cnnlab.db") as conn:
        conn.execute("UPDATE runs SET status = 'queued'")
    assert too_slow(var, before) is None  # only running runs are judged


def test_the_seed_calibration_scores_every_candidate_and_resumes(tmp_path) -> None:
    out = tmp_path / "calibration.json"
    command = [sys.executable, "-m", "benchmarks.seed_calibration", "--tiny", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    candidates = report["summary"]["candidates"]
    assert set(candidates) == set(report["rule"]["candidates"]) and len(report["runs"]) == 2 * len(candidates)
    for name, c in candidates.items():
        assert set(c["models"]) == {"wide", "wide_deep"}
        assert c["score"] == round(sum(m["total"] for m in c["models"].values()), 2)
        for m in c["models"].values():
            parts = ("plateau", "collapse", "memorising", "onset")
            assert m["total"] == round(sum(m[p] for p in parts), 2) or m["total"] == 100.0, (name, m)
    winner = report["summary"]["winner"]
    assert candidates[winner]["score"] == min(c["score"] for c in candidates.values())
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"{len(report['runs'])} runs recorded in {out}, 0 to run" in again.stdout
