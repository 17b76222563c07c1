"""People: admins manage users and members cannot, over the API; and the people command line
(python -m backend.cli.users)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_admins_manage_users_and_members_cannot(client) -> None:
    admin = client.as_user("root", "admin")
    assert client.post("/api/users", json={"username": "tess", "password": "tess's password"}).status_code == 403
    made = admin.post("/api/users", json={"username": "Tess", "display_name": "Tess T.", "password": "tess's password"})
    assert made.status_code == 201 and made.json()["username"] == "tess" and made.json()["can_sign_in"]
    again = admin.post("/api/users", json={"username": "TESS", "password": "another password"})
    assert again.status_code == 409 and again.json()["detail"][0]["field"] == "username"
    short = admin.post("/api/users", json={"username": "uma", "password": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["field"] == "password"
    r = admin.patch(f"/api/users/{made.json()['id']}", json={"role": "admin"})
    assert r.json()["role"] == "admin"
    me = admin.get("/api/me").json()
    assert admin.patch(f"/api/users/{me['id']}", json={"active": False}).status_code == 409  # not yourself


def test_the_people_command_line(monkeypatch, capsys) -> None:
    import io

    from backend.cli import users as cli

    monkeypatch.setattr("sys.stdin", io.StringIO("wes's password\n"))
    assert cli.main(["create", "Wes", "--display-name", "Wes W.", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["set-password", "wes", "--password-stdin"]) == 2  # too short: refused, named
    assert "password: needs at least 8 characters" in capsys.readouterr().err
    assert cli.main(["token", "wes", "--name", "ci"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    from backend.main import create_app

    script = TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})
    assert script.get("/api/me").json()["display_name"] == "Wes W."
    monkeypatch.setattr("sys.stdin", io.StringIO("wes's new password\n"))
    assert cli.main(["set-password", "WES", "--password-stdin"]) == 0
    assert cli.main(["deactivate", "wes"]) == 0
    assert script.get("/api/me").status_code == 401  # a deactivated user's token is refused
    assert cli.main(["list"]) == 0
    assert any(line.split()[:3] == ["wes", "member", "inactive"] for line in capsys.readouterr().out.splitlines())
