"""The app's edge: which requests it answers, and the security headers of every response.

Three checks run before any route, in one ASGI middleware (:class:`EdgeGuard`):

* **Host** (DNS rebinding): a page on ``evil.example`` whose name is re-pointed at 127.0.0.1
  talks to the app with ``Host: evil.example``. Only names of the bound address, ``localhost``
  and loopback literals are answered (see :class:`HostPolicy`); anything else gets 400.
* **Origin** (cross-site requests): a request that changes state (any method but GET, HEAD and
  OPTIONS) is refused with 403 when the browser says it comes from elsewhere: a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` other than the one the
  request is addressed to. Clients that are not browsers send neither header; they still need the
  form token (checked by the route, see :mod:`steerlens.web.app`).
* **Headers**: every response, error pages included, forbids framing (``X-Frame-Options: DENY``
  and CSP ``frame-ancestors 'none'``), sniffing, referrers, cross-origin embedding and openers.

Refusals are the app's own one-line error page.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from steerlens.web.render import APP_CSP, render

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: CSP header of every response: the page's own policy, and no framing by anyone.
CSP_HEADER = APP_CSP + "; frame-ancestors 'none'"
#: Headers added to every response that does not set them itself.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP_HEADER,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
#: Methods that do not change state (all others are checked for their origin).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``Host`` header value (``None`` when it is malformed).

    Examples
    --------
    >>> split_host("127.0.0.1:8000"), split_host("[::1]:80"), split_host("LocalHost")
    (('127.0.0.1', 8000), ('::1', 80), ('localhost', None))
    >>> split_host("a b"), split_host("x:y"), split_host("")
    (None, None, None)
    """
    value = value.strip().lower()
    if not value or any(c in value for c in " /\\@?#\t"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1:]
        if _ip(host) is None or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif ":" in value:
        return None  # a bare IPv6 literal must be bracketed in Host
    else:
        host, port_text = value, None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


class HostPolicy:
    """The ``Host`` names the app answers to, given the address it is bound to.

    Always: ``localhost`` and the loopback literals. Also the bound host as given and the
    addresses it resolves to. When bound to every interface (``0.0.0.0``, ``::``) any IP literal
    is answered too (a literal cannot be re-pointed by DNS), and this machine's own names.

    Examples
    --------
    >>> p = HostPolicy("127.0.0.1")
    >>> p.allows("127.0.0.1:8000"), p.allows("localhost:8000"), p.allows("[::1]:8000")
    (True, True, True)
    >>> p.allows("evil.example:8000"), p.allows("10.0.0.2:8000"), p.allows(None)
    (False, False, False)
    >>> HostPolicy("0.0.0.0").allows("192.168.1.20:8000")
    True
    """

    def __init__(self, bound: str = "127.0.0.1") -> None:
        self.bound = bound.strip().strip("[]").lower()
        names = set(_LOOPBACK_NAMES) | {self.bound}
        addrs = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
        try:
            for info in socket.getaddrinfo(self.bound or None, None, type=socket.SOCK_STREAM):
                addr = _ip(str(info[4][0]).split("%")[0])
                if addr is not None:
                    addrs.add(addr)
        except (OSError, UnicodeError):
            pass
        self.wildcard = any(a.is_unspecified for a in addrs)
        if self.wildcard:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    names.add(name.lower())
        self.names = frozenset(names)
        self.addrs = frozenset(addrs)

    def allows(self, header: str | None) -> bool:
        """Whether a request whose ``Host`` header is ``header`` is answered."""
        parsed = split_host(header) if header else None
        if parsed is None:
            return False
        host = parsed[0]
        if host in self.names:
            return True
        addr = _ip(host)
        if addr is None:
            return False
        if addr in self.addrs or (addr.version == 6 and addr.ipv4_mapped in self.addrs):
            return True
        return self.wildcard


def _netloc(scheme: str, host: str, port: int | None) -> tuple[str, int]:
    return host, port if port is not None else (443 if scheme == "https" else 80)


def cross_origin_reason(headers: dict[str, str]) -> str | None:
    """Why a state-changing request comes from another site (``None`` when it does not).

    ``headers`` are the request's headers, lower-case names.

    Examples
    --------
    >>> cross_origin_reason({"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000",
    ...                      "sec-fetch-site": "same-origin"}) is None
    True
    >>> cross_origin_reason({"host": "127.0.0.1:8000", "origin": "http://localhost:3000"})
    'the request comes from http://localhost:3000, not from this app'
    >>> cross_origin_reason({"host": "127.0.0.1:8000", "sec-fetch-site": "same-site"})
    'the request comes from another site (Sec-Fetch-Site: same-site)'
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return f"the request comes from another site (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    shown = origin[:80]
    try:
        url = urlsplit(origin.strip())
        port = url.port
    except ValueError:
        return f"the request comes from {shown}, not from this app"
    own = split_host(headers.get("host", ""))
    if (url.scheme not in ("http", "https") or not url.hostname or own is None
            or url.path not in ("", "/") or url.query or url.fragment
            or _netloc(url.scheme, url.hostname.lower(), port)
            != _netloc(url.scheme, own[0], own[1])):
        return f"the request comes from {shown}, not from this app"
    return None


def error_page(message: str) -> bytes:
    """The app's one-line error page (``error: message``) as UTF-8 bytes."""
    return render("app_error.html", message=message).encode()


class EdgeGuard:
    """ASGI middleware: the Host and origin checks, then the security headers on every response.

    Parameters
    ----------
    app
        The ASGI app to guard.
    hosts
        The ``Host`` names answered (see :class:`HostPolicy`).

    Examples
    --------
    >>> from starlette.applications import Starlette
    >>> guarded = EdgeGuard(Starlette(), HostPolicy("127.0.0.1"))
    >>> guarded.hosts.allows("localhost")
    True
    """

    def __init__(self, app: ASGIApp, hosts: HostPolicy) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # the app has no websockets: refuse before routing
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if not self.hosts.allows(headers.get("host")):
            shown = (headers.get("host") or "(none)")[:80]
            await self._refuse(send, 400, f"this app answers only to its own address, not to "
                                          f"Host {shown}; open it as http://localhost:PORT/")
            return
        if scope.get("method", "GET").upper() not in SAFE_METHODS:
            reason = cross_origin_reason(headers)
            if reason is not None:
                await self._refuse(send, 403, f"{reason}; open the app's own page and submit "
                                              "the form there")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in raw}
                raw += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                        if k.lower() not in present]
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _refuse(send: Send, status: int, message: str) -> None:
        body = error_page(message)
        headers = [(b"content-type", b"text/html; charset=utf-8"),
                   (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store"), (b"connection", b"close")]
        headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
