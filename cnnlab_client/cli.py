"""The command line: argparse, one small function per command, errors as one-line messages."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from cnnlab_client.api import TOKEN_HINT, ApiError, Client
from cnnlab_client.settings import ConfigError, load_settings
from cnnlab_client.watch import Deleted, Watcher, WatchError

PROG = "python -m cnnlab_client"


class UsageError(Exception):
    """A bad argument found after parsing (an unreadable or invalid FILE.json): exit 2, like argparse."""


# --- input and output helpers ---------------------------------------------------------------------


def read_json(name: str) -> dict[str, Any]:
    """The JSON object in FILE ('-': standard input)."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{name} must hold a JSON object")
    return data


def run_body(data: dict[str, Any], name: str | None = None, owner: str | None = None,
             repeats: int | None = None) -> dict[str, Any]:
    """A POST /api/runs body from FILE: the body itself, or a bare config (no "config" key) wrapped in one."""
    body: dict[str, Any] = dict(data) if "config" in data else {"config": data}
    if name is not None:
        body["name"] = name
    if owner is not None:
        body["owner"] = owner
    if repeats is not None:
        body["repeats"] = repeats
    return body


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def run_summary(run: dict[str, Any]) -> str:
    """`run 7 "wd+aug" queued: 253,638 params, 12,509,136 MACs`."""
    return (f"run {run['id']} {json.dumps(run['name'], ensure_ascii=False)} {run['status']}: "
            f"{count(run.get('params'))} params, {count(run.get('macs'))} MACs")


COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str], bool]] = [  # header, cell, right-aligned
    ("ID", lambda r: str(r["id"]), True),
    ("STATUS", lambda r: r["status"], False),
    ("NAME", lambda r: clip(r["name"], 40), False),
    ("OWNER", lambda r: clip(r["owner"], 20), False),
    ("PARAMS", lambda r: count(r.get("params")), True),
    ("TEST@VAL", lambda r: percent(r.get("test_acc_at_best_val")) + ("" if r.get("selected_on") == "val" else "*"),
     True),  # * : chosen on test (no validation split)
    ("EPOCHS", lambda r: f"{r.get('epochs_done', 0)}/{r.get('epochs', '?')}", True),
]


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Fixed-width rows, a header first; each column as wide as its widest cell."""
    rows = [[cell(r) for _, cell, _ in COLUMNS] for r in runs]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, (header, _, _) in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        aligned = zip(cells, widths, COLUMNS, strict=True)
        return "  ".join(c.rjust(w) if right else c.ljust(w) for c, w, (_, _, right) in aligned).rstrip()

    return [line([h for h, _, _ in COLUMNS]), *(line(row) for row in rows)]


# --- the commands -------------------------------------------------------------------------------


def watch_run(client: Client, run_id: int) -> int:
    """0 when the run succeeded or timed out, 1 otherwise."""
    try:
        run = Watcher(client, run_id).follow()
    except Deleted as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0 if run["status"] in client.trained_statuses() else 1


def cmd_submit_run(client: Client, args: argparse.Namespace) -> int:
    run = client.submit_run(run_body(read_json(args.file), args.name, args.owner, args.repeats))
    ids = run.get("run_ids") or [run["id"]]
    print(run_summary(run), flush=True)
    if len(ids) > 1:
        print(f"group {run['group_id']}: runs {', '.join(map(str, ids))} (seeds {run['seed']}…)", flush=True)
    if not args.watch:
        return 0
    worst = 0
    for i in ids:
        if len(ids) > 1:
            print(f"--- run {i}", flush=True)
        worst = max(worst, watch_run(client, i))
    return worst


def cmd_submit_sweep(client: Client, args: argparse.Namespace) -> int:
    body = read_json(args.file)
    if args.owner is not None:
        body["owner"] = args.owner
    sweep = client.submit_sweep(body)
    print(f"sweep {sweep['id']} {json.dumps(sweep['name'], ensure_ascii=False)}: {len(sweep['runs'])} runs")
    for run in sweep["runs"]:
        print("  " + run_summary(run))
    sys.stdout.flush()
    if not args.watch:
        return 0
    worst = 0
    for run in sweep["runs"]:
        print(f"--- run {run['id']} {json.dumps(run['name'], ensure_ascii=False)}", flush=True)
        worst = max(worst, watch_run(client, run["id"]))
    return worst


def cmd_watch(client: Client, args: argparse.Namespace) -> int:
    return watch_run(client, args.run_id)


def cmd_list(client: Client, args: argparse.Namespace) -> int:
    page = client.runs(status=args.status, owner=args.owner, limit=args.limit, q=args.query)
    runs = page["data"]
    if not runs:
        print("no runs", file=sys.stderr)
        return 0
    print("\n".join(table(runs)))
    print("TEST@VAL: test accuracy at the epoch chosen on validation; * chosen on test (no validation split)",
          file=sys.stderr)
    if page.get("count", len(runs)) > len(runs):
        print(f"({len(runs)} of {page['count']} runs; --limit shows more)", file=sys.stderr)
    return 0


def cmd_show(client: Client, args: argparse.Namespace) -> int:
    print(json.dumps(client.run(args.run_id), indent=2))
    return 0


def cmd_cancel(client: Client, args: argparse.Namespace) -> int:
    run = client.cancel(args.run_id)
    if run["status"] in client.finished_statuses():
        print(f"run {run['id']} {run['status']}")
    else:  # running: the worker stops it at its next check
        print(f"run {run['id']} {run['status']}, cancel requested")
    return 0


def cmd_me(client: Client, args: argparse.Namespace) -> int:
    try:
        me = client.me()
    except ApiError as exc:
        if exc.status == 404:
            exc.lines.append("hint: this server has no /api/me (it predates users and tokens)")
        raise
    width = max((len(k) for k in me), default=0)
    for key, value in me.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        print(f"{key + ':':<{width + 1}} {shown}")
    return 0


# --- parsing and running ------------------------------------------------------------------------


def run_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a run id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a run id: {text!r}")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    url_help = "the server (else $CNNLAB_URL, the config file's url, http://127.0.0.1:8000)"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=url_help)  # also accepted after the command

    parser = argparse.ArgumentParser(prog=PROG, description="Submit, watch and list cnnlab runs.",
                                     epilog="Token: $CNNLAB_TOKEN, else the config file's token "
                                            "(~/.config/cnnlab/client.toml, or $CNNLAB_CLIENT_CONFIG).")
    parser.add_argument("--url", default=None, help=url_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="submit a run or a sweep", parents=[common])
    kinds = submit.add_subparsers(dest="kind", required=True, metavar="KIND")
    one = kinds.add_parser("run", parents=[common], help="POST /api/runs: FILE holds the body or just a config")
    one.add_argument("file", metavar="FILE.json", help="the JSON file ('-': standard input)")
    one.add_argument("--name", help="the run's name (overrides FILE's)")
    one.add_argument("--owner", help="the run's owner (overrides FILE's)")
    one.add_argument("--watch", action="store_true", help="follow the run until it finishes")
    one.add_argument("--repeats", type=positive, help="train it this many times with seeds seed, seed+1, … (1-16), "
                                                      "as one group")
    one.set_defaults(func=cmd_submit_run)
    sweep = kinds.add_parser("sweep", parents=[common], help="POST /api/sweeps: {name, base_config, grid}")
    sweep.add_argument("file", metavar="FILE.json", help="the JSON file ('-': standard input)")
    sweep.add_argument("--owner", help="the sweep's owner (overrides FILE's)")
    sweep.add_argument("--watch", action="store_true", help="follow each run in turn")
    sweep.set_defaults(func=cmd_submit_sweep)

    watch = commands.add_parser("watch", parents=[common], help="follow a run: the seed's epoch lines, live")
    watch.add_argument("run_id", type=run_id, metavar="RUN_ID")
    watch.set_defaults(func=cmd_watch)

    listing = commands.add_parser("list", parents=[common], help="a table of runs, newest first")
    listing.add_argument("--status", help="run statuses, comma-separated (GET /api/vocabulary lists them)")
    listing.add_argument("--owner", help="only this owner's runs")
    listing.add_argument("--query", "-q", help="the runs list's query, e.g. 'tag:baseline lr>0.1 test_acc>=85%%' "
                                               "(a plain word searches the name, owner and architecture)")
    listing.add_argument("--limit", type=positive, help="at most this many (the server's default: 50)")
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", parents=[common], help="a run's JSON")
    show.add_argument("run_id", type=run_id, metavar="RUN_ID")
    show.set_defaults(func=cmd_show)

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a queued or running run")
    cancel.add_argument("run_id", type=run_id, metavar="RUN_ID")
    cancel.set_defaults(func=cmd_cancel)

    me = commands.add_parser("me", parents=[common], help="who the token belongs to (GET /api/me)")
    me.set_defaults(func=cmd_me)
    return parser


def fail(message: str) -> int:
    print(f"cnnlab: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.url)
    except ConfigError as exc:
        return fail(str(exc))
    command: Callable[[Client, argparse.Namespace], int] = args.func
    with Client(settings.url, settings.token) as client:
        try:
            return command(client, args)
        except UsageError as exc:
            parser.error(str(exc))
        except ApiError as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            if exc.status == 401:
                print(TOKEN_HINT, file=sys.stderr)
            return 1
        except WatchError as exc:
            return fail(str(exc))
        except httpx.ConnectError as exc:
            return fail(f"cannot connect to {settings.url}: {reason_of(exc)}")
        except httpx.TimeoutException:
            return fail(f"{settings.url} did not answer in time")
        except httpx.TransportError as exc:
            return fail(f"{settings.url}: {reason_of(exc)}")
        except KeyboardInterrupt:
            print("interrupted (a run being watched goes on)", file=sys.stderr)
            return 130


def reason_of(exc: Exception) -> str:
    """`connection refused` out of httpx's `[Errno 111] Connection refused`."""
    text = str(exc).strip() or type(exc).__name__
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return text[:1].lower() + text[1:]
