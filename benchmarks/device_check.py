"""The device check: everything a lent GPU should tell us, in ONE command of at most ~8 minutes.

Here first, at no device time (stages the dataset and the wheels the device's Python 3.12 lacks
into the git-ignored var/device/, and says whether it fits the 64 MiB the device tool carries):

    .venv/bin/python -m benchmarks.stage_device

then the one device command (the device tool's ``run``, carry ``["var/device"]``, timeout_s 600):

    bash benchmarks/device_check.sh

(the wrapper installs var/device/wheels for the device's python3 into /tmp/site, then runs
``python3 -m benchmarks.device_check --staged var/device``). Without a GPU, end to end in seconds:

    .venv/bin/python -m benchmarks.device_check --device cpu --tiny --out /tmp/check

It prints the device line, then runs the parts in order, each in its own process (group) with a
timeout derived from ``--budget`` (default 450 s: the command's 10 minutes less machine start-up
and transfers): ``gpu_tests`` (pytest -m gpu: CUDA against the CPU, a CUDA checkpoint resumed on
the CPU, a real out-of-memory error, no host sync inside an epoch), then benchmarks/gpu_suite.py's
``seed_run``, ``captured_step``, ``packing``, ``time_to_93`` and ``search`` (the GPU search, shrunk
to its share: a smoke test of the packed search; alone, with a longer budget, it is the measurement).
A part that overruns is killed with its children and recorded as timed out; the others still run in
what is left; nothing waits past the budget. ``device_check.json`` (and the log) is rewritten under ``--out`` (default:
$OUT, the device tool's output folder, else benchmarks/results/device_check) after every part.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUDGET_S = 450.0
# each part's share of the budget, in the order they run; a part's timeout is its share of the
# budget, and never more than what is left
PARTS: dict[str, float] = {"gpu_tests": 0.10, "seed_run": 0.20, "captured_step": 0.13, "packing": 0.25,
                           "time_to_93": 0.14, "search": 0.18}
GRACE_S = 5.0  # a part's own caps end this long (and 15%) before its timeout, so it writes its JSON first


def default_out() -> Path:
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "results" / "device_check"


def run_bounded(command: list[str], timeout_s: float, log: Path, env: dict[str, str]) -> tuple[int | None, float]:
    """Run ``command`` in its own process group, its output appended to ``log``; past ``timeout_s``
    the whole group is killed (a packing run's children too). (exit code or None if killed, seconds)."""
    t0 = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}  (timeout {timeout_s:.0f} s)\n")
        out.flush()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=max(timeout_s, 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            code = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # children a finished part left behind
            except ProcessLookupError:
                pass
    return code, time.perf_counter() - t0


def tail(path: Path, lines: int = 15) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.device_check", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--tiny", action="store_true", help="generated data, tiny caps: the check end to end in seconds")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds the whole check may take")
    p.add_argument("--staged", type=Path, default=ROOT / "var" / "device",
                   help="the folder benchmarks/stage_device.py wrote (its cifar10.npz is the dataset)")
    p.add_argument("--out", type=Path, default=None, help="where device_check.json goes (default $OUT)")
    p.add_argument("--parts", default=",".join(PARTS), help="a comma list of the parts to run, in their order")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    out = args.out or default_out()
    out.mkdir(parents=True, exist_ok=True)
    report_path, log = out / "device_check.json", out / "device_check.log"
    log.write_text("")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p)
    data_file = args.staged / "cifar10.npz"
    report: dict[str, Any] = {"budget_s": args.budget, "device_asked": args.device, "tiny": args.tiny,
                              "staged": str(data_file) if data_file.is_file() else None, "parts": {}}

    def write() -> None:
        report["total_s"] = round(time.perf_counter() - t0, 1)
        report_path.write_text(json.dumps(report, indent=2, default=str))

    try:
        import torch

        from benchmarks.gpu_suite import device_line

        report["device"] = device_line(args.device)
    except Exception as exc:  # noqa: BLE001 - the check goes on: each part says what it lacks
        report["device"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(f"device: {json.dumps(report['device'], default=str)}", flush=True)
    if args.device == "cuda" and not ("torch" in sys.modules and torch.cuda.is_available()):
        report["error"] = "--device cuda: no CUDA device here (use --device cpu --tiny to try the check)"
        write()
        print(report["error"], file=sys.stderr, flush=True)
        return report
    write()
    names = [n.strip() for n in args.parts.split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise SystemExit(f"--parts: unknown {unknown}; the parts are {list(PARTS)}")
    shares = {n: PARTS[n] / sum(PARTS[m] for m in names) for n in names}
    for i, name in enumerate(names):
        left = args.budget - (time.perf_counter() - t0)
        timeout = left if i == len(names) - 1 else min(left, args.budget * shares[name])
        if timeout < 2.0:
            report["parts"][name] = {"skipped": f"no time left in the {args.budget:g} s budget"}
            write()
            continue
        # the part's own caps end before its timeout, so it finishes and writes its JSON itself
        inner = max(timeout * 0.85 - GRACE_S, 0.5)
        part_json = out / f".part_{name}.json"
        part_json.unlink(missing_ok=True)
        if name == "gpu_tests":
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
                       "tests/worker/test_gpu.py", f"--junitxml={part_json.with_suffix('.xml')}",
                       f"--timeout={max(int(inner), 5)}"]
        else:
            command = [sys.executable, "-m", "benchmarks.gpu_suite", "--device", args.device, "--part", name,
                       "--budget", f"{inner:.1f}", "--out", str(part_json)]
            command += ["--tiny"] if args.tiny else []
            command += ["--data", str(data_file)] if data_file.is_file() else []
        code, seconds = run_bounded(command, timeout, log, env)
        entry: dict[str, Any] = {"started_at_s": round(args.budget - left, 2), "timeout_s": round(timeout, 1),
                                 "seconds": round(seconds, 1), "exit_code": code, "timed_out": code is None}
        if name == "gpu_tests":
            entry.update(junit_summary(part_json.with_suffix(".xml")))
            if args.device != "cuda":
                entry["note"] = "no CUDA here: the gpu tests are skipped (they run on a lent GPU)"
        elif part_json.is_file():
            written = json.loads(part_json.read_text())
            entry["result"] = written.get(name)
            if "staged_decode_matches" in written:
                report["staged_decode_matches"] = written["staged_decode_matches"]
        if code != 0:
            entry["log_tail"] = tail(log)
        report["parts"][name] = entry
        print(f"{name}: {json.dumps(entry, default=str)}", flush=True)
        write()
        part_json.unlink(missing_ok=True)
        part_json.with_suffix(".xml").unlink(missing_ok=True)
    write()
    print(f"device check done in {report['total_s']} s; {report_path}", flush=True)
    return report


def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and the failing tests' names from pytest's junit XML."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {"tests": None}
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return {"tests": None}
    cases = suite.findall("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    passed = [c.get("name") for c in cases if c.get("name") not in failed and c.get("name") not in skipped]
    return {"tests": len(cases), "passed": passed, "failed": failed, "skipped": skipped}


if __name__ == "__main__":
    result = main()
    sys.exit(1 if result.get("error") else 0)
