"""Which hosts and origins may reach the page: the guard against DNS rebinding.

The page's server listens on 127.0.0.1, but a web page the user visits elsewhere can still
reach it: its script may open ``http://attacker.example:8765/`` after the attacker's name has
been re-pointed to 127.0.0.1 (DNS rebinding), or post to ``http://127.0.0.1:8765/`` directly. Then
the browser sends the attacker's name as the ``Host`` header, or the attacker's page as the
``Origin``, and both are checked here, as Jupyter and Bokeh check them:

* the ``Host`` header must name this machine (``localhost``, ``127.0.0.1`` or ``[::1]``, any
  port) or a host allowed explicitly (``abm-hetero viz --allow-host NAME``); otherwise the
  answer is 400;
* a request that carries an ``Origin`` header (browsers send one with every websocket and with
  every cross-origin request) must come from the page itself: the origin's host and port must be
  the ``Host`` the request came to; otherwise the answer is 403, and a websocket is refused
  before it opens. Clients that are not browsers send no ``Origin`` and are not limited by it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

#: the names of this machine that the page always answers to
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
#: a Host header: a name or an IPv6 address in brackets, then an optional port
_HOST_HEADER = re.compile(r"(\[[0-9a-f:.]+\]|[^:\[\]/@\s]+)(?::\d{1,5})?")


def allowed_host(text: str) -> str:
    """``text`` as a name to allow: a host name or IPv4 address (lower case), or an IPv6
    address in brackets; a :class:`ValueError` for anything else (a port, a scheme, a
    wildcard)."""
    name = text.strip().lower()
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if _HOST_NAME.fullmatch(name) and len(name) <= 253:
            return name
        raise ValueError(f"not a host name or IP address: {text!r} (give the name alone, "
                         "without a port or scheme)") from None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def host_name(host: str) -> str | None:
    """The name part of a ``Host`` header (lower case, port removed), or None if the header is
    malformed."""
    match = _HOST_HEADER.fullmatch(host.strip().lower())
    return match.group(1) if match else None


class HostGuard:
    """ASGI middleware that answers only requests to allowed hosts from the page's own origin
    (module docstring)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = LOCAL_HOSTS) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(Headers(scope=scope))
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket" and "websocket.http.response" not in scope.get(
                "extensions", {}):
            await send({"type": "websocket.close", "code": 1008})  # the handshake gets a 403
        else:
            await PlainTextResponse(refusal[1], status_code=refusal[0])(scope, receive, send)

    def refusal(self, headers: Headers) -> tuple[int, str] | None:
        """``(status, message)`` if a request with these headers must be refused, else None."""
        if len(headers.getlist("host")) > 1 or len(headers.getlist("origin")) > 1:
            return 400, "abm-hetero page: a request names one host and one origin at most\n"
        host = headers.get("host", "")
        name = host_name(host)
        if name is None or name not in self.allowed:
            hint = f"; start the page with --allow-host {name} to allow it" if name else ""
            return 400, f"abm-hetero page: host {host!r} is not allowed{hint}\n"
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                return 403, (f"abm-hetero page: a page from {origin!r} may not use the page at "
                             f"{host!r}\n")
        return None
