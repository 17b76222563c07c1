"""Where a webhook may be sent (backend.notifications.hosts): the URL's form, the admin's allowlist,
and the addresses a host matched only by a pattern resolves to."""

from __future__ import annotations

import ipaddress

import pytest

from backend.notifications import hosts
from backend.notifications.hosts import NotAllowed, check_url


@pytest.mark.parametrize(("url", "allow", "why"), [
    ("ftp://127.0.0.1/x", "127.0.0.1", "must start with http:// or https://"),
    ("javascript:alert(1)", "*", "must start with http:// or https://"),
    ("file:///etc/passwd", "*", "must start with http:// or https://"),
    ("127.0.0.1/hook", "127.0.0.1", "must start with http:// or https://"),
    ("http://user:pw@127.0.0.1/hook", "127.0.0.1", "user name or password"),
    ("http://evil.example@127.0.0.1/hook", "127.0.0.1", "user name or password"),
    ("http:///hook", "*", "names no host"),
    ("http://127.0.0.1:99999/hook", "127.0.0.1", "is not a URL"),
    ("http://127.0.0.1/a b", "127.0.0.1", "spaces or control characters"),
    ("http://127.0.0.1/" + "a" * 2000, "127.0.0.1", "the limit is 2,000"),
    ("http://127.0.0.1/hook", "", "an admin must allow the host '127.0.0.1'"),
    ("http://localhost:8080/hook", "127.0.0.1", "'localhost:8080' is not on the lab's allowlist"),
    ("http://127.0.0.1:8080/hook", "127.0.0.1:9090", "not on the lab's allowlist"),
    ("https://hooks.example.com.evil.net/", "hooks.example.com", "not on the lab's allowlist"),
    ("https://example.com/", "*.example.com", "not on the lab's allowlist"),  # the pattern is for names under it
    # a pattern reaches public addresses only: never loopback, private, link-local or reserved ones
    ("http://127.0.0.1/hook", "*", "127.0.0.1, a loopback address"),
    ("http://10.1.2.3/hook", "*", "a private address"),
    ("http://192.168.0.7:8000/hook", "*:*", "a private address"),
    ("http://169.254.169.254/latest/meta-data", "*", "a link-local address"),
    ("http://[::1]:8000/hook", "*:*", "a loopback address"),
    ("http://[::ffff:10.0.0.1]/hook", "*", "a private address"),
    ("http://0.0.0.0/hook", "*", "a reserved address"),
    ("http://100.64.0.1/hook", "*", "address"),  # shared address space: not public either
    ("http://localhost/hook", "*", "a loopback address"),
    # an entry without a port allows the scheme's own port only: never the lab's PostgreSQL or Redis
    ("http://127.0.0.1:5432/hook", "127.0.0.1", "'127.0.0.1:5432' is not on the lab's allowlist"),
    ("http://127.0.0.1:6379/hook", "127.0.0.1", "'127.0.0.1:6379' is not on the lab's allowlist"),
    ("https://hooks.example.com:80/", "hooks.example.com", "not on the lab's allowlist"),
    ("http://127.0.0.1:6379/hook", "127.0.0.1, *", "not on the lab's allowlist"),  # the pattern's port is 80 too
    # 6to4 and Teredo addresses carrying a loopback or private IPv4 address
    ("http://[2002:7f00:1::1]/hook", "*", "a loopback address embedded in a 6to4 or Teredo address (127.0.0.1)"),
    ("http://[2002:a00:1::1]/hook", "*", "a private address embedded in a 6to4 or Teredo address (10.0.0.1)"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "*", "embedded in a 6to4 or Teredo address (127.0.0.1)"),
])
def test_urls_refused_say_why(url: str, allow: str, why: str) -> None:
    with pytest.raises(NotAllowed) as refused:
        check_url(url, allow)
    assert why in str(refused.value)


@pytest.mark.parametrize(("url", "allow"), [
    ("http://127.0.0.1/hook", "127.0.0.1"),  # named: a loopback address is the admin's choice
    ("http://127.0.0.1:8080/hook", "127.0.0.1:8080"),
    ("http://127.0.0.1:8080/hook", "127.0.0.1:*"),  # any port, said so
    ("https://HOOKS.example.com./x?y=1", "hooks.example.com"),
    ("http://[::1]:8000/hook", "[::1]:8000"),
    ("http://10.0.0.5/hook", "*, 10.0.0.5"),  # named beside the pattern
    ("https://93.184.215.14/hook", "*"),  # a public address, by a pattern
    ("http://[2002:5db8:d70e::1]/hook", "*"),  # 6to4 of a public address
    ("https://93.184.215.14/hook", "93.184.215.14:443"),  # the scheme's port
])
def test_allowed_urls(url: str, allow: str) -> None:
    assert check_url(url, allow).port in (80, 443, 8000, 8080)


def test_a_pattern_checks_every_address_the_name_resolves_to(monkeypatch) -> None:
    public, private = ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.9")
    monkeypatch.setattr(hosts, "resolve", lambda _host, _port: [public])
    checked = check_url("https://hooks.example.com/x", "*.example.com")
    assert checked.host == "hooks.example.com" and checked.addresses == (public,)  # where the delivery connects
    monkeypatch.setattr(hosts, "resolve", lambda _host, _port: [public, private])  # DNS changed since
    with pytest.raises(NotAllowed, match="resolves to 10.0.0.9, a private address"):
        check_url("https://hooks.example.com/x", "*.example.com")
    assert check_url("https://hooks.example.com/x", "hooks.example.com").exact  # named: not resolved at all


def test_a_name_that_does_not_resolve_is_refused_under_a_pattern() -> None:
    with pytest.raises(NotAllowed, match="does not resolve"):
        check_url("https://no-such-host.invalid/x", "*")


def test_the_allowlist_is_read_from_the_setting(monkeypatch) -> None:
    from backend.core.settings import settings

    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", " 127.0.0.1:8080 , *.Example.com,,[::1],localhost:*")
    assert hosts.allowed_hosts_text() == ["127.0.0.1:8080", "*.example.com", "::1", "localhost:*"]
    monkeypatch.setattr(settings, "WEBHOOK_ALLOWED_HOSTS", "")
    with pytest.raises(NotAllowed, match="CNNLAB_WEBHOOK_ALLOWED_HOSTS"):
        check_url("http://127.0.0.1:8080/")
