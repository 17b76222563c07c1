"""`python -m backend.cli.storage` — the runs' checkpoints and models on disk, from the command line
(the Storage section of the Workers page shows the same; POST /api/storage/gc does the same):

    python -m backend.cli.storage gc       # the retention, then files no row names (over an hour old)
    python -m backend.cli.storage usage    # every user's checkpoints and models, and the disk

The backend collects at its start and every CNNLAB_GC_INTERVAL_S by itself; this command waits for
a collection under way in a backend to end, then makes its own. Recorded in the audit log with no
actor (the command line is the server's own operator).
"""

from __future__ import annotations

import argparse
import sys

from backend.core.db import SessionLocal
from backend.core.settings import settings
from backend.identity.service import record
from backend.storage import service
from backend.storage.service import human_bytes


def gc() -> None:
    removed = service.collect(wait=True)
    for path in removed.files:
        print(f"removed {path}")
    if removed.trimmed_runs:
        print(f"checkpoints dropped by the retention (CNNLAB_RETENTION_DAYS={settings.RETENTION_DAYS:g}, "
              f"CNNLAB_RETENTION_KEEP={settings.RETENTION_KEEP}): runs {', '.join(map(str, removed.trimmed_runs))}")
    print(f"{len(removed.files)} files removed, {human_bytes(removed.bytes)} freed")
    with SessionLocal() as session:
        record(session, None, "storage.gc", "storage", None,
               f"garbage collection (command line): {len(removed.files)} files ({human_bytes(removed.bytes)}) "
               f"removed; checkpoints of {len(removed.trimmed_runs)} runs dropped by the retention")
        session.commit()


def usage() -> None:
    with SessionLocal() as session:
        users, lab = service.every_user(session), service.lab_bytes(session)
    total, free = service.disk()
    print(f"{'user':<24} {'runs':>6} {'stored':>10} quota")
    for u in users:
        print(f"{u.username:<24} {u.runs:>6} {human_bytes(u.total_bytes):>10} "
              f"{human_bytes(u.quota_bytes) if u.quota_bytes is not None else '-'}")
    print(f"the lab: {human_bytes(lab)} of checkpoints and models; disk {human_bytes(free)} free of "
          f"{human_bytes(total)} ({settings.CHECKPOINT_DIR})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.cli.storage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("gc", help="apply the retention and remove files no row names (over an hour old)")
    sub.add_parser("usage", help="every user's checkpoints and models, and the disk")
    args = parser.parse_args(argv)
    {"gc": gc, "usage": usage}[args.action]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
