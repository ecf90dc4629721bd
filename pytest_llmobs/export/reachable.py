"""Whether a backend can be reached at all, asked before sending: OpenTelemetry's
exporter retries a refused connection until its time is up, so a collector that is down
would cost every run the whole timeout instead of a moment."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit


def unreachable(url: str, timeout: float) -> str | None:
    """Why nothing can connect to the URL's host and port (refused, unknown host), or
    None when something answers, a proxy stands between, or the probe could not tell
    within `timeout` seconds (the send then finds out, within its own time)."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None or (_proxied(parts.scheme) and not urllib.request.proxy_bypass(host)):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {host}:{port}"
    except socket.gaierror:
        return f"unknown host {host}"
    except OSError:  # a timeout, a network down: the send says what happened
        return None


def _proxied(scheme: str) -> bool:
    """Whether the environment sends this scheme's requests through a proxy."""
    return scheme in urllib.request.getproxies()
