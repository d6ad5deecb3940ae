"""HTTP basic auth for the monitor, and the rule about which addresses it may listen on.

With ORCH_MONITOR_USER and ORCH_MONITOR_PASSWORD set, one Flask `before_request` hook guards every route the
server has: the pages, Dash's own endpoints (_dash-layout, _dash-update-component, component bundles), the JSON
API and /metrics. Credentials are compared in constant time (hmac.compare_digest on both, always both).
Without credentials the monitor only listens on a loopback address.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from flask import Flask, Response, request

USER_VAR, PASSWORD_VAR = "ORCH_MONITOR_USER", "ORCH_MONITOR_PASSWORD"
REALM = "orchestrator monitor"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = ""

    def __repr__(self) -> str:  # never print the password
        return f"Credentials(user={self.user!r}, password=***)"

    def accepts(self, header: Optional[str]) -> bool:
        """True when an Authorization header carries exactly these credentials (constant-time compare)."""
        user, password = parse_basic(header)
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user & ok_password  # both compared, no short cut


def credentials_from_env(env: Mapping[str, str]) -> Optional[Credentials]:
    """Credentials from the environment; None when neither variable is set. ValueError when only one is."""
    user, password = env.get(USER_VAR, ""), env.get(PASSWORD_VAR, "")
    if not user and not password:
        return None
    if not user or not password:
        raise ValueError(f"set both {USER_VAR} and {PASSWORD_VAR} (or neither)")
    return Credentials(user, password)


def parse_basic(header: Optional[str]) -> tuple[str, str]:
    """(user, password) from 'Basic base64(user:password)'; ('', '') when absent or malformed."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic" or not token:
        return "", ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else ("", "")


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback IP addresses (127.0.0.0/8, ::1); anything else counts as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, creds: Optional[Credentials]) -> Optional[str]:
    """Why the monitor must not listen on `host` (None when it may)."""
    if creds is None and not is_loopback(host):
        return (f"refusing to listen on {host}: a non-loopback address needs {USER_VAR} and {PASSWORD_VAR} "
                "(HTTP basic auth); use --host 127.0.0.1, or set both and put TLS in front")
    return None


def install(server: Flask, creds: Optional[Credentials]) -> None:
    """Require the credentials on every request the Flask server handles (no-op without credentials)."""
    if creds is None:
        return

    @server.before_request
    def _require_auth() -> Optional[Response]:
        if creds.accepts(request.headers.get("Authorization")):
            return None
        return Response("authentication required\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}"',
                                                           "Content-Type": "text/plain; charset=utf-8"})
