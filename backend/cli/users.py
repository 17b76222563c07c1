"""`python -m backend.cli.users` — people and tokens from the command line (the Users and Tokens
pages do the same in the browser):

    python -m backend.cli.users create NAME [--admin] [--display-name "Ada L."] [--password-stdin]
    python -m backend.cli.users set-password NAME [--password-stdin]
    python -m backend.cli.users deactivate NAME
    python -m backend.cli.users list
    python -m backend.cli.users token NAME --name LABEL [--expires-days N]   # the token is the last line
    python -m backend.cli.users worker-token --name LABEL                     # a credential for one worker

Without --password-stdin the password is asked for twice at the terminal. Actions are recorded
in the audit log with no actor (the command line is the server's own operator).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import SessionLocal
from backend.core.errors import UserError
from backend.core.statuses import Role, TokenKind
from backend.core.tables import User
from backend.identity import service as user_service


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the two passwords differ; nothing changed")
    return first


def user_or_exit(session: Session, name: str) -> User:
    user = user_service.find_user(session, name)
    if user is None:
        raise SystemExit(f"no user {user_service.canonical(name)!r}")
    return user


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.cli.users", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a user (a member unless --admin)")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--display-name")
    create.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    setpw = sub.add_parser("set-password", help="set a user's password (ends their sessions)")
    setpw.add_argument("name")
    setpw.add_argument("--password-stdin", action="store_true")
    deactivate = sub.add_parser("deactivate", help="stop a user signing in (ends their sessions; tokens refused)")
    deactivate.add_argument("name")
    sub.add_parser("list", help="every user")
    token = sub.add_parser("token", help="make an API token for a user; printed once, as the last line")
    token.add_argument("name")
    token.add_argument("--name", dest="label", required=True, help="the token's label")
    token.add_argument("--expires-days", type=float)
    worker = sub.add_parser("worker-token", help="make a worker credential; printed once, as the last line")
    worker.add_argument("--name", dest="label", required=True)
    args = parser.parse_args(argv)

    with SessionLocal() as session:
        try:
            if args.action == "create":
                password = read_password(args.password_stdin)
                user = user_service.create_user(session, args.name, password, Role.ADMIN if args.admin else Role.MEMBER,
                                                args.display_name)
                session.commit()
                print(f"made {user.role} {user.username}")
            elif args.action == "set-password":
                user = user_or_exit(session, args.name)
                user_service.set_password(session, user, read_password(args.password_stdin))
                session.commit()
                print(f"password of {user.username} set; their sessions ended")
            elif args.action == "deactivate":
                user = user_or_exit(session, args.name)
                user_service.set_active(session, user, False)
                session.commit()
                print(f"{user.username} deactivated; their sessions ended and their tokens are refused")
            elif args.action == "list":
                users = session.scalars(select(User).order_by(User.username)).all()
                print(f"{'username':<24} {'role':<7} {'state':<12} display name")
                for u in users:
                    state = "inactive" if not u.active else ("active" if u.password_hash else "no password")
                    print(f"{u.username:<24} {u.role:<7} {state:<12} {u.display_name}")
            elif args.action == "token":
                user = user_or_exit(session, args.name)
                made = user_service.issue_token(session, user, args.label, args.expires_days)
                session.commit()
                print(f"API token {args.label!r} for {user.username} "
                      "(shown once; send it as 'Authorization: Bearer …'):")
                print(made.secret)
            elif args.action == "worker-token":
                made = user_service.issue_token(session, None, args.label, kind=TokenKind.WORKER)
                session.commit()
                print(f"worker token {args.label!r} (shown once; CNNLAB_WORKER_TOKEN on that worker):")
                print(made.secret)
        except UserError as exc:
            print(f"{exc.field}: {exc.message}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
