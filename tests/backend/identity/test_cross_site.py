"""Cross-site requests and hosts: a cookie request that changes something needs the CSRF token and
the site's own origin, sign-in and sign-out refuse cross-site posts, hosts not allowed are refused,
and every page (the study export with its own policy) carries the security headers."""

from __future__ import annotations

from backend.identity.limiter import signin_limiter
from tests.backend.identity.helpers import browser, run_count, sign_in
from tests.utils.auth import PASSWORD, user_token
from tests.utils.factories import tiny_config


def test_a_cookie_request_that_changes_something_needs_the_csrf_token(app) -> None:
    user_token("pia")
    c = browser(app)
    csrf = sign_in(c, "pia")
    body = {"name": "csrf", "config": tiny_config()}
    before = run_count()
    assert c.post("/api/runs", json=body).status_code == 403
    assert c.post("/api/runs", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    # a cross-site page posting a form: another origin, and it cannot read the token
    cross = c.post("/api/runs", data={"name": "x"},
                   headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert c.post("/api/runs", json=body,
                  headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status_code == 403
    assert run_count() == before
    ok = c.post("/api/runs", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://testserver",
                                                 "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 201 and ok.json()["owner"] == "pia"
    assert c.get("/api/runs").status_code == 200  # reading needs no token


def test_sign_in_and_sign_out_refuse_cross_site_posts(app) -> None:
    user_token("quin")
    signin_limiter.clear()
    c = browser(app)
    r = c.post("/login", data={"username": "quin", "password": PASSWORD}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    csrf = sign_in(c, "quin")
    assert c.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert c.get("/api/me").status_code == 401


def test_hosts_not_allowed_are_refused(client) -> None:
    assert client.get("/api/health", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 200


def test_every_page_carries_the_security_headers(client) -> None:
    for path in ("/", "/runs/new", "/api/health", "/api/runs", "/login"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
    pages = [client.get(p).text for p in ("/", "/runs/new", "/tokens", "/login")]
    assert all("<script>" not in p and "onclick" not in p for p in pages)  # no inline script to allow


def test_the_study_export_keeps_its_inline_scripts_and_reaches_nothing(client) -> None:
    study = client.post("/api/studies", json={"name": "export", "entries": [
        {"key": "a", "label": "A", "config": tiny_config()}]}).json()
    csp = client.get(f"/api/studies/{study['id']}/report.html").headers["content-security-policy"]
    assert "script-src 'unsafe-inline'" in csp and "default-src 'none'" in csp and "connect-src" not in csp
