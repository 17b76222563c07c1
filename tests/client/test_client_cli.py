"""The script client, `python -m cnnlab_client`, as a subprocess against the real lab and a stub server.

The client runs from a folder that holds only the cnnlab_client package, so it proves it needs
nothing of backend/ or worker/. The stub server (a thread here) answers what the lab cannot be
made to: a dropped event stream, a 401, and it records the headers the client sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from backend.core import formats
from backend.core.statuses import vocabulary
from cnnlab_client import watch
from cnnlab_client.watch import SSEParser, js_round, seed_line, to_fixed
from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config
from tests.utils.services import ROOT, free_port

pytestmark = pytest.mark.integration

SEED_LINE = re.compile(r"^\[epoch (\d+)\] train accuracy: \d+% test accuracy: \d+% val accuracy: \d+% "
                       r"loss: \d+\.\d{3} duration: \d+\.\d{2}$")
CLIENT_ENV = ("CNNLAB_URL", "CNNLAB_TOKEN", "CNNLAB_CLIENT_CONFIG", "PYTHONPATH")


@pytest.fixture(scope="module")
def client_only(tmp_path_factory) -> Path:
    """A folder holding only the cnnlab_client package: the client's PYTHONPATH and working folder."""
    folder = tmp_path_factory.mktemp("client-only")
    (folder / "cnnlab_client").symlink_to(ROOT / "cnnlab_client", target_is_directory=True)
    return folder


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def cli(client_only: Path, home: Path) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k not in CLIENT_ENV}
        full_env = {**clean, "HOME": str(home), "PYTHONPATH": str(client_only), **(env or {})}
        return subprocess.run([sys.executable, "-m", "cnnlab_client", *args], cwd=client_only, env=full_env,
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    return run


def lab_env(lab) -> dict[str, str]:
    return {"CNNLAB_TOKEN": getattr(lab, "token", "")}


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def submit(cli, lab, tmp_path: Path, config: dict, name: str) -> dict:
    """A run submitted with the client (no owner: the backend makes it the caller's); its JSON from the lab."""
    proc = cli("--url", lab.url, "submit", "run", write_json(tmp_path / "run.json", {"name": name, "config": config}),
               env=lab_env(lab))
    assert proc.returncode == 0, proc.stderr
    return lab.run(int(re.match(r"^run (\d+) ", proc.stdout).group(1)))


def write_client_toml(home: Path, mode: int = 0o600, **values: str) -> Path:
    path = home / ".config" / "cnnlab" / "client.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    path.chmod(mode)
    return path


# --- against the lab ----------------------------------------------------------------------------


def test_submit_run_watch_prints_seed_lines_then_list_and_show(lab, worker, cli, tmp_path) -> None:
    config = write_json(tmp_path / "config.json", tiny_config(epochs=3))  # a bare config: the client wraps it
    proc = cli("--url", lab.url, "submit", "run", config, "--name", "client watch", "--watch", env=lab_env(lab))
    assert proc.returncode == 0, proc.stdout + proc.stderr + lab.logs()
    lines = proc.stdout.splitlines()
    head = re.match(r'^run (\d+) "client watch" queued: ([\d,]+) params, ([\d,]+) MACs$', lines[0])
    assert head, lines
    run_id = int(head.group(1))
    run = lab.run(run_id)
    assert run["status"] == "succeeded" and run["name"] == "client watch"
    assert head.group(2) == f"{run['params']:,}" and head.group(3) == f"{run['macs']:,}"

    epoch_lines = [line for line in lines if line.startswith("[epoch ")]
    assert [int(SEED_LINE.match(line).group(1)) for line in epoch_lines] == [1, 2, 3]
    assert epoch_lines == [seed_line(m) for m in lab.metrics(run_id)]
    best = (f"test accuracy {run['test_acc_at_best_val']:.1%} at epoch {run['best_epoch']}, chosen on validation "
            f"({run['best_val_acc']:.1%})")
    assert lines[-1] == f"run {run_id} succeeded: {best}"
    assert "status: running" in lines

    listing = cli("--url", lab.url, "list", "--status", "succeeded", "--limit", "5", env=lab_env(lab))
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "NAME", "OWNER", "PARAMS", "TEST@VAL", "EPOCHS"]
    row = next(r for r in rows if r.split()[0] == str(run_id))
    assert "succeeded" in row and "client watch" in row and f"{run['test_acc_at_best_val']:.1%} " in row
    assert row.split()[-1] == "3/3" and f"{run['params']:,}" in row

    shown = cli("show", str(run_id), "--url", lab.url, env=lab_env(lab))  # --url after the command works too
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == json.dumps(run, indent=2) + "\n"

    again = cli("--url", lab.url, "watch", str(run_id), env=lab_env(lab))  # a finished run: replayed, then ends
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == epoch_lines + [lines[-1]]


def test_cancel_of_a_queued_run(lab, cli, tmp_path) -> None:  # no worker: nothing trains, the run stays queued
    run = submit(cli, lab, tmp_path, tiny_config(epochs=3), "client queued")
    assert run["status"] == "queued"
    listing = cli("--url", lab.url, "list", "--status", "queued", "--owner", run["owner"], env=lab_env(lab))
    assert listing.returncode == 0, listing.stderr
    row = next(r for r in listing.stdout.splitlines()[1:] if r.split()[0] == str(run["id"]))
    assert row.split()[1] == "queued" and "client queued" in row and run["owner"] in row and row.endswith("0/3")

    proc = cli("--url", lab.url, "cancel", str(run["id"]), env=lab_env(lab))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"run {run['id']} cancelled\n"
    cancelled = lab.run(run["id"])
    assert cancelled["status"] == "cancelled" and cancelled["reason"]

    again = cli("--url", lab.url, "cancel", str(run["id"]), env=lab_env(lab))
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == f"HTTP 409: run {run['id']} has already finished (cancelled); nothing to cancel\n"

    watched = cli("--url", lab.url, "watch", str(run["id"]), env=lab_env(lab))
    assert watched.returncode == 1  # only succeeded and timed_out exit 0
    assert watched.stdout == f"run {run['id']} cancelled: {cancelled['reason']}\n"  # "cancelled before it started"

    nobody = cli("--url", lab.url, "list", "--owner", "no-such-owner", env=lab_env(lab))
    assert nobody.returncode == 0 and nobody.stdout == "" and nobody.stderr == "no runs\n"


def test_watch_ends_on_every_final_status_the_server_names_pruned_too(lab, cli, tmp_path) -> None:
    """The client asks the server which statuses are final (GET /api/vocabulary) instead of keeping
    a copy: a copy without ``pruned`` reconnected forever to a pruned trial's finished stream."""
    served = lab.http.get("/api/vocabulary")
    assert served.status_code == 200 and served.json() == vocabulary()
    assert "pruned" in served.json()["finished_run_statuses"]
    run = submit(cli, lab, tmp_path, tiny_config(epochs=3), "client pruned")  # no worker: a worker's calls by hand
    worker = httpx.Client(base_url=lab.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    base = f"/api/worker/runs/{run['id']}"
    claim = worker.post(f"{base}/claim", json={"host": "h", "device": "cpu"})
    assert claim.status_code == 200, claim.text
    lease = {"X-Run-Lease": claim.json()["lease"]}
    epoch = metric(1, test_acc=0.125, train_acc=0.135, val_acc=0.985)
    assert worker.post(f"{base}/epochs", headers=lease, json={"attempt": 1, "metrics": [epoch]}).status_code == 204
    finish = {"attempt": 1, "status": "pruned", "reason": "pruned by its search after epoch 1"}
    assert worker.post(f"{base}/finish", headers=lease, json=finish).status_code == 204
    worker.close()

    watched = cli("--url", lab.url, "watch", str(run["id"]), env=lab_env(lab), timeout=60)
    assert watched.returncode == 1, watched.stderr  # only succeeded and timed_out exit 0
    assert watched.stderr == ""  # no reconnection
    assert watched.stdout.splitlines() == [
        "[epoch 1] train accuracy: 14% test accuracy: 13% val accuracy: 99% loss: 1.000 duration: 1.50",
        f"run {run['id']} pruned: pruned by its search after epoch 1 (test accuracy 12.5% at epoch 1, chosen on "
        "validation (98.5%))"]


def test_submit_with_repeats_makes_one_group_of_seeds(lab, cli, tmp_path) -> None:  # no worker: they stay queued
    body = write_json(tmp_path / "repeats.json", {"name": "client repeats", "config": tiny_config(seed=40)})
    proc = cli("--url", lab.url, "submit", "run", body, "--repeats", "3", env=lab_env(lab))
    assert proc.returncode == 0, proc.stderr
    head, group_line = proc.stdout.splitlines()
    group = re.match(r"^group (\d+): runs (\d+), (\d+), (\d+) \(seeds 40…\)$", group_line)
    assert group, group_line
    runs = [lab.run(int(i)) for i in group.groups()[1:]]
    assert [r["seed"] for r in runs] == [40, 41, 42] and {r["group_id"] for r in runs} == {int(group.group(1))}
    for run in runs:
        assert cli("--url", lab.url, "cancel", str(run["id"]), env=lab_env(lab)).returncode == 0
    over = cli("--url", lab.url, "submit", "run", body, "--repeats", "17", env=lab_env(lab))
    assert over.returncode == 1 and over.stderr.startswith("HTTP 422: repeats: "), over.stderr
    assert "16" in over.stderr


def test_bad_requests_exit_1_with_the_field_and_usage_errors_exit_2(lab, cli, tmp_path) -> None:
    bad = write_json(tmp_path / "bad.json", {"name": "bad", "config": tiny_config(epochs=0)})
    proc = cli("--url", lab.url, "submit", "run", bad, env=lab_env(lab))
    assert proc.returncode == 1 and proc.stdout == ""
    assert re.match(r"^HTTP 422: config\.epochs: .+$", proc.stderr.strip()), proc.stderr

    sweep = write_json(tmp_path / "sweep.json", {"name": "bad sweep", "base_config": tiny_config(), "grid": {}})
    proc = cli("--url", lab.url, "submit", "sweep", sweep, env=lab_env(lab))
    assert proc.returncode == 1 and proc.stderr.startswith("HTTP 422: grid: "), proc.stderr

    missing = cli("--url", lab.url, "show", "999999", env=lab_env(lab))
    assert missing.returncode == 1 and missing.stderr == "HTTP 404: Run 999999 not found\n"

    for args in (["submit", "run", str(tmp_path / "absent.json")], ["submit", "run", "-"], ["watch", "seven"],
                 ["list", "--limit", "0"], ["frobnicate"], []):
        usage = cli("--url", lab.url, *args, stdin="not json")
        assert usage.returncode == 2, (args, usage.stderr)
        assert "usage:" in usage.stderr


def test_submit_sweep_watch_follows_each_run(lab, worker, cli, tmp_path) -> None:
    body = {"name": "client sweep", "base_config": tiny_config(epochs=2), "grid": {"batch_size": [16, 32]}}
    proc = cli("--url", lab.url, "submit", "sweep", write_json(tmp_path / "sweep.json", body), "--watch",
               env=lab_env(lab))
    assert proc.returncode == 0, proc.stdout + proc.stderr + lab.logs()
    lines = proc.stdout.splitlines()
    head = re.match(r'^sweep (\d+) "client sweep": 2 runs$', lines[0])
    assert head, lines
    runs = [re.match(r'^  run (\d+) "client sweep batch_size=(16|32)" queued: ', line) for line in lines[1:3]]
    ids = [int(match.group(1)) for match in runs]
    for run_id in ids:
        assert f"--- run {run_id} " in proc.stdout
        assert re.search(rf"^run {run_id} succeeded: test accuracy .*, chosen on validation ", proc.stdout, re.M)
    assert [int(SEED_LINE.match(line).group(1)) for line in lines if line.startswith("[epoch")] == [1, 2, 1, 2]


def test_url_and_token_from_the_config_file(lab, cli, home, tmp_path) -> None:
    run = submit(cli, lab, tmp_path, tiny_config(epochs=1), "client config file")
    token = getattr(lab, "token", "") or "cnnlab-test-token"  # the backend without users ignores it
    path = write_client_toml(home, url=lab.url, token=token)
    proc = cli("show", str(run["id"]))  # no --url, no CNNLAB_URL, no CNNLAB_TOKEN: all from the file
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "client config file"
    assert proc.stderr == ""
    me = cli("me")
    assert me.returncode == 0, me.stderr
    fields = {key: value.strip() for key, _, value in (line.partition(":") for line in me.stdout.splitlines())}
    assert fields["username"] and fields["role"] in ("admin", "member")
    if getattr(lab, "token", ""):  # the lab signs in: the file's token is what let these requests in
        assert fields["via"] == "token"
        refused = cli("--url", lab.url, "list", env={"CNNLAB_CLIENT_CONFIG": str(home / "none.toml")})
        assert refused.returncode == 1 and refused.stderr.startswith("HTTP 401: ")
        assert "hint: set CNNLAB_TOKEN" in refused.stderr

    path.chmod(0o644)
    proc = cli("show", str(run["id"]))
    assert proc.returncode == 0
    assert proc.stderr.startswith(f"warning: permissions 0644 for {path} are too open"), proc.stderr
    assert cli("cancel", str(run["id"])).returncode == 0  # leaves nothing queued for a later test's worker


# --- against a stub server ----------------------------------------------------------------------


class Stub:
    """An HTTP server in a thread: answers[(method, path)] is a list of (status, headers, body) used in
    turn (the last one repeats); body may fall short of Content-Length, to drop the connection."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?")[0]
                stub.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                queue = stub.answers.get((self.command, path)) or [(404, {}, b'{"detail": "Not Found"}')]
                status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = Stub()
    server.answers[("GET", "/api/vocabulary")] = [(200, {}, json.dumps(vocabulary()).encode())]
    yield server
    server.close()


def sse(*events: tuple[str, object, int | None]) -> bytes:
    out = "retry: 50\n\n"
    for kind, data, event_id in events:
        out += (f"id: {event_id}\n" if event_id is not None else "") + f"event: {kind}\ndata: {json.dumps(data)}\n\n"
    return out.encode()


def run_json(status: str, **fields: object) -> dict[str, object]:
    return {"id": 7, "name": "stub", "status": status, "reason": None, "best_test_acc": None, "best_epoch": None,
            "cancel_requested": False, **fields}


METRIC = {"train_loss": 0.2654, "train_acc": 0.9104, "test_acc": 0.8512, "test_loss": 0.5, "lr": 0.1,
          "seconds": 27.2201}


def test_watch_reconnects_with_last_event_id(stub, cli) -> None:
    first = sse(("status", run_json("running"), 0), ("metric", {**METRIC, "epoch": 1}, 1))
    second = sse(("metric", {**METRIC, "epoch": 1}, 1), ("metric", {**METRIC, "epoch": 2}, 2),
                 ("status", run_json("running"), 2),
                 ("status", run_json("succeeded", best_test_acc=0.86, test_acc_at_best_val=0.853, best_val_acc=0.84,
                                     selected_on="val", best_epoch=2, reason="completed 2 epochs"), 2))
    stream = {"Content-Type": "text/event-stream"}
    stub.answers[("GET", "/api/runs/7/events")] = [
        (200, {**stream, "Content-Length": str(len(first) + 500)}, first),  # the connection drops mid-stream
        (503, {}, b'{"detail": "database unavailable, retry later"}'),
        (200, stream, second),
    ]
    proc = cli("--url", stub.url, "watch", "7", env={"CNNLAB_TOKEN": "tok-123"})
    assert proc.returncode == 0, proc.stderr
    line = "[epoch {}] train accuracy: 91% test accuracy: 85% loss: 0.265 duration: 27.22"
    assert proc.stdout.splitlines() == ["status: running", line.format(1), line.format(2),
                                        "run 7 succeeded: test accuracy 85.3% at epoch 2, chosen on validation (84.0%)"]
    assert proc.stderr.count("reconnecting") == 2
    assert [path for _, path, _ in stub.requests].count("/api/vocabulary") == 1  # asked once per watch
    sent = [headers for _, path, headers in stub.requests if path == "/api/runs/7/events"]
    assert [h.get("last-event-id") for h in sent] == [None, "1", "1"]
    assert all(h["authorization"] == "Bearer tok-123" for _, _, h in stub.requests)


def test_watch_of_a_pruned_run_ends_instead_of_reconnecting(stub, cli) -> None:
    body = sse(("status", run_json("pruned", reason="pruned by its search after epoch 1", best_test_acc=0.5,
                                   best_epoch=1), 1))
    stub.answers[("GET", "/api/runs/7/events")] = [(200, {"Content-Type": "text/event-stream"}, body)]
    proc = cli("--url", stub.url, "watch", "7", timeout=30)
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.splitlines() == ["run 7 pruned: pruned by its search after epoch 1 (test accuracy 50.0% at "
                                        "epoch 1, chosen on test)"]
    assert [path for _, path, _ in stub.requests] == ["/api/vocabulary", "/api/runs/7/events"]


@pytest.mark.parametrize(("status", "code", "tail"), [
    ("timed_out", 0,
     "run 7 timed_out: over the time budget; stopped after epoch 1 (test accuracy 50.0% at epoch 1, chosen on test)"),
    ("failed", 1, "run 7 failed: RuntimeError: boom (test accuracy 50.0% at epoch 1, chosen on test)"),
])
def test_watch_exit_code_follows_the_ending(stub, cli, status, code, tail) -> None:
    reason = {"timed_out": "over the time budget; stopped after epoch 1", "failed": "RuntimeError: boom"}[status]
    body = sse(("status", run_json(status, reason=reason, best_test_acc=0.5, best_epoch=1), 1))
    stub.answers[("GET", "/api/runs/7/events")] = [(200, {"Content-Type": "text/event-stream"}, body)]
    proc = cli("--url", stub.url, "watch", "7")
    assert proc.returncode == code
    assert proc.stdout.splitlines() == [tail]


def test_token_from_file_env_wins_and_me(stub, cli, home, tmp_path) -> None:
    me = {"username": "ada", "display_name": "Ada L.", "role": "admin"}
    stub.answers[("GET", "/api/me")] = [(200, {}, json.dumps(me).encode())]
    write_client_toml(home, url=stub.url, token="from-file")
    proc = cli("me")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["username:     ada", "display_name: Ada L.", "role:         admin"]
    proc = cli("me", env={"CNNLAB_TOKEN": "from-env"})
    assert proc.returncode == 0
    other = write_client_toml(tmp_path, url="http://127.0.0.1:1", token="from-other-file")
    proc = cli("--url", stub.url, "me", env={"CNNLAB_CLIENT_CONFIG": str(other)})
    assert proc.returncode == 0
    auth = [headers.get("authorization") for _, _, headers in stub.requests]
    assert auth == ["Bearer from-file", "Bearer from-env", "Bearer from-other-file"]

    (home / ".config" / "cnnlab" / "client.toml").unlink()
    proc = cli("--url", stub.url, "me")
    assert proc.returncode == 0 and "authorization" not in stub.requests[-1][2]  # no token: none sent


def test_401_hint_connection_refused_and_a_bad_config_file(stub, cli, home) -> None:
    stub.answers[("GET", "/api/runs")] = [(401, {}, b'{"detail": "missing or invalid token"}')]
    proc = cli("--url", stub.url, "list")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["HTTP 401: missing or invalid token",
                                        "hint: set CNNLAB_TOKEN (make a token on the Tokens page or with "
                                        "`python -m backend.cli.users token NAME --name LABEL`)"]
    stub.answers[("GET", "/api/runs")] = [(422, {}, json.dumps({"detail": [
        {"field": "status", "message": "unknown status 'x'"}, {"field": "", "message": "and another"}]}).encode())]
    proc = cli("--url", stub.url, "list", "--status", "x")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["HTTP 422: status: unknown status 'x'", "HTTP 422: and another"]
    assert stub.requests[-1][1] == "/api/runs?status=x"
    stub.answers[("GET", "/api/runs")] = [(422, {}, json.dumps({"detail": [
        {"field": "q", "message": "unknown field 'colour' at position 0 ('colour'): expected a run field",
         "token": "colour", "position": 0, "expected": "a run field"}]}).encode())]
    proc = cli("--url", stub.url, "list", "--query", "colour:red lr>0.1")
    assert proc.returncode == 1 and proc.stderr.startswith("HTTP 422: q: unknown field 'colour' at position 0")
    assert stub.requests[-1][1] == "/api/runs?q=colour%3Ared+lr%3E0.1"

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (["list"], ["watch", "3"], ["me"]):
        proc = cli("--url", url, *args)
        assert proc.returncode == 1 and proc.stderr == f"cnnlab: cannot connect to {url}: connection refused\n"

    path = write_client_toml(home)
    path.write_text("url = [1, 2\n")
    proc = cli("list")
    assert proc.returncode == 1 and proc.stderr.startswith(f"cnnlab: {path} is not valid TOML"), proc.stderr


def test_seed_line_rounds_as_the_dashboard_does() -> None:
    assert js_round(12.5) == 13 and js_round(0.49999999999999994) == 0 and js_round(84.49) == 84
    assert to_fixed(0.0625, 3) == "0.063" and to_fixed(27.215, 2) == "27.21"  # 27.215 is 27.2149999... in binary
    assert to_fixed(-0.0, 2) == "0.00" and to_fixed(float("nan"), 3) == "NaN" and to_fixed(1e21, 2) == "1e+21"
    metric = {"epoch": 117, "train_acc": 0.9104, "test_acc": 0.8531, "train_loss": 0.26549, "seconds": 27.2201}
    assert seed_line(metric) == "[epoch 117] train accuracy: 91% test accuracy: 85% loss: 0.265 duration: 27.22"
    parser = SSEParser()
    events = list(parser.events(["retry: 250", "", ": comment", "id: 4", "event: metric", "data: {", "data: }", "",
                                 "id: 5", "data: x"]))  # the last event never ended: not dispatched, id not taken
    assert [(e.event, e.data) for e in events] == [("metric", "{\n}")]
    assert parser.last_id == "4" and parser.retry_ms == 250


HALVES = [0.125, 0.135, 0.145, 0.155, 0.285, 0.575, 0.9850, 0.0050, 0.5, 0.995, 0.015, 0.565, 0.045, 0.0]


def test_the_clients_copy_of_the_rounding_is_the_backends() -> None:
    """The client imports nothing of the backend, so it keeps a copy of backend.core.formats: the same answers."""
    values = [*HALVES, *(i / 1000 for i in range(1001)), *(i / 10000 + 0.00005 for i in range(10000))]
    assert [watch.percent(v) for v in values] == [formats.percent(v) for v in values]
    numbers = [*values, 27.215, 0.0625, 1.0005, 2.5e-7, -0.0, -1.5, 123456.785, 1e21, 3e22, float("nan"),
               float("inf"), float("-inf")]
    for digits in (0, 1, 2, 3):
        assert [to_fixed(v, digits) for v in numbers] == [formats.fixed(v, digits) for v in numbers]
