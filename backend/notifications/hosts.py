"""Where a webhook may be sent: the admin's allowlist (CNNLAB_WEBHOOK_ALLOWED_HOSTS) and the
addresses its host resolves to. Checked when a webhook is made and again before every attempt
(DNS may have changed since); a refusal says why, in the words a 422 on ``url`` shows.

An entry of the allowlist is a host name or address (``hooks.example.com``, ``127.0.0.1``,
``[::1]``), or a pattern: ``*.example.com`` (any name under it) or ``*`` (any host). An entry
without a port allows the scheme's own port only (80 for http, 443 for https), so naming
``127.0.0.1`` does not open the lab's PostgreSQL or Redis; ``host:8443`` allows that port
instead, ``host:*`` any port. A host named by an exact entry may resolve to any address, a
loopback or private one included (the admin named it); a host matched only by a pattern must
resolve to public addresses only — a loopback, private, link-local, shared or reserved address
(or a 6to4/Teredo address embedding one) is refused, so ``*`` never opens the lab's own network
(the SSRF hole of an unvalidated webhook URL). Such a host's vetted addresses are the ones the
delivery connects to (``Target.addresses``): DNS answering otherwise a moment later (rebinding)
reaches nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from backend.core.settings import settings

SCHEMES = {"http": 80, "https": 443}
URL_MAX = 2000  # the column's length (tables.Webhook.url)
SETTING = "CNNLAB_WEBHOOK_ALLOWED_HOSTS"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotAllowed(ValueError):
    """A webhook URL refused: the message says why (a 422 on ``url`` at creation, a failed attempt later)."""


ANY_PORT = 0  # an entry's port written ``*``: any port


@dataclass(frozen=True)
class Entry:
    host: str  # lower case, no trailing dot; "*" or "*.domain" for a pattern
    port: int | None  # None: the scheme's own port only; ANY_PORT: any port

    def matches(self, host: str, port: int, default_port: int) -> bool:
        if self.port != ANY_PORT and port != (default_port if self.port is None else self.port):
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host

    @property
    def exact(self) -> bool:
        return not self.host.startswith("*")


def normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def parse_entry(text: str) -> Entry:
    text = text.strip()
    if text.startswith("["):  # [::1]:8080
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if port == "*":
        return Entry(normal_host(host), ANY_PORT)
    return Entry(normal_host(host), int(port) if port and port.isdigit() and int(port) else None)


def allowlist(raw: str | None = None) -> list[Entry]:
    """The admin's allowlist, read now (a test or an admin may change the setting)."""
    text = settings.WEBHOOK_ALLOWED_HOSTS if raw is None else raw
    return [parse_entry(part) for part in text.split(",") if part.strip()]


def allowed_hosts_text() -> list[str]:
    """The allowlist as the Account page shows it."""
    return [e.host + ("" if e.port is None else ":*" if e.port == ANY_PORT else f":{e.port}") for e in allowlist()]


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # normalised: lower case, no brackets or trailing dot
    port: int  # explicit or the scheme's
    exact: bool  # named by an exact entry of the allowlist
    addresses: tuple[IPAddress, ...] = ()  # a pattern's host: the public addresses vetted (connect to these only)


def parse_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials, or NotAllowed saying why."""
    if len(url) > URL_MAX:
        raise NotAllowed(f"is {len(url):,} characters; the limit is {URL_MAX:,}")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise NotAllowed("holds spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise NotAllowed(f"is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        given = f"{parts.scheme}:" if parts.scheme else "nothing"
        raise NotAllowed(f"must start with http:// or https://, not {given}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise NotAllowed("must not carry a user name or password (user:pass@host)")
    host = normal_host(parts.hostname or "")
    if not host:
        raise NotAllowed("names no host")
    if not host.isascii():
        raise NotAllowed("names its host in letters other than ASCII: write it in its punycode form (xn--…)")
    return scheme, host, port if port is not None else SCHEMES[scheme]


def check_allowed(url: str, raw_allowlist: str | None = None) -> Target:
    """The URL's target when its form and host are allowed (no DNS yet), else NotAllowed."""
    scheme, host, port = parse_url(url)
    entries = allowlist(raw_allowlist)
    if not entries:
        raise NotAllowed(f"webhooks are off in this lab: an admin must allow the host {host!r} in {SETTING} "
                         "(it allows none)")
    matching = [e for e in entries if e.matches(host, port, SCHEMES[scheme])]
    if not matching:
        where = host if port == SCHEMES[scheme] else f"{host}:{port}"
        raise NotAllowed(f"the host {where!r} is not on the lab's allowlist of webhook hosts ({SETTING}): "
                         "an admin must allow it")
    return Target(scheme, host, port, exact=any(e.exact for e in matching))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (blocking: a route's thread or the delivery's)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise NotAllowed(f"the host {host!r} does not resolve ({exc})") from None
    out: list[IPAddress] = []
    for info in infos:
        address = _literal(str(info[4][0]).partition("%")[0])
        if address is not None and address not in out:
            out.append(address)
    if not out:
        raise NotAllowed(f"the host {host!r} resolves to no address")
    return out


def kind_of(address: IPAddress) -> str | None:
    """Why an address is not one a pattern may reach (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:  # 6to4 (2002::/16) and Teredo (2001::/32) carry an IPv4 address a relay may reach
            embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
            why = kind_of(embedded) if embedded is not None else None
            if why is not None:
                return f"{why} embedded in a 6to4 or Teredo address ({embedded})"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def check_url(url: str, raw_allowlist: str | None = None) -> Target:
    """The whole check: the URL's form, the allowlist, and — for a host matched by a pattern only —
    every address it resolves to public. NotAllowed says why."""
    target = check_allowed(url, raw_allowlist)
    if target.exact:
        return target  # the admin named it: any address it has
    addresses = resolve(target.host, target.port)
    for address in addresses:
        why = kind_of(address)
        if why is not None:
            raise NotAllowed(f"the host {target.host!r} resolves to {address}, {why}: only a host named in {SETTING} "
                             "itself (not by a pattern) may be reached there")
    return replace(target, addresses=tuple(addresses))
