"""A real Prometheus scraping a real Pushgateway (Debian's binaries) on free ports of
127.0.0.1, started once for a test module, and PromQL queries to it; and a web server
that is not a Pushgateway, for the pushes that must fail."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.loopback import LOCAL, answers, free_port, stop

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
# why the stack cannot start here ("" when it can), for pytest.skip
MISSING = ", ".join(
    f"{name} not found on PATH (Debian package {name})"
    for name, found in (("prometheus", PROMETHEUS), ("prometheus-pushgateway", PUSHGATEWAY))
    if found is None
)
CONFIG = """
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: pushgateway
    honor_labels: true  # keep the pushed job, suite and branch
    static_configs:
      - targets: ["{target}"]
"""


@dataclass(frozen=True)
class Stack:
    """Where the stack listens: base URLs of the Pushgateway and of Prometheus."""

    pushgateway: str
    prometheus: str


@contextlib.contextmanager
def prometheus_stack(folder: Path, interval: str = "1s") -> Iterator[Stack]:
    """Start a Pushgateway and a Prometheus that scrapes it every `interval` with
    `honor_labels: true`, wait until both answer /-/ready, and stop both after.

    Prometheus' target discovery hands the scraper its first targets about 5 s after the
    start: do other work meanwhile and poll with `wait_for`. Logs and the TSDB go to
    `folder`. Raises RuntimeError (with the log's end) when a server does not come up.
    """
    assert PROMETHEUS is not None, MISSING
    assert PUSHGATEWAY is not None, MISSING
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(
            # its state in the test's folder: Debian's default file is the system's
            _server(lambda address: [PUSHGATEWAY, f"--web.listen-address={address}",
                                     f"--persistence.file={folder / 'pushgateway.data'}"],
                    folder / "pushgateway.log")
        )  # fmt: skip
        config = folder / "prometheus.yml"
        target = urllib.parse.urlsplit(gateway).netloc
        config.write_text(CONFIG.format(interval=interval, target=target), encoding="utf-8")
        prometheus = stack.enter_context(
            _server(
                lambda address: [
                    PROMETHEUS, f"--config.file={config}", f"--web.listen-address={address}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                ],
                folder / "prometheus.log",
            )
        )  # fmt: skip
        yield Stack(gateway, prometheus)


def query(prom_url: str, promql: str) -> list[dict[str, Any]]:
    """The result of an instant PromQL query: each `{"metric": {labels}, "value": [t, "v"]}`.

    Raises:
        AssertionError: Prometheus answered with an error.
    """
    address = f"{prom_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with LOCAL.open(address, timeout=10) as answer:
        doc = json.load(answer)
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def wait_for(
    prom_url: str,
    promql: str,
    done: Callable[[list[dict[str, Any]]], bool],
    deadline: float = 30.0,
) -> list[dict[str, Any]]:
    """Poll the query until `done(result)` holds (a scrape has brought the values).

    Raises:
        AssertionError: it did not within `deadline` seconds; shows the last result.
    """
    end = time.monotonic() + deadline
    while True:
        found = query(prom_url, promql)
        if done(found):
            return found
        if time.monotonic() > end:
            raise AssertionError(f"{promql}: still {found} after {deadline:g} s")
        time.sleep(0.1)


class NotAPushgateway(BaseHTTPRequestHandler):
    """Answers a PUT as the first part of its path says: 404, 405, an HTML page with
    200, a redirect, a closed connection, or 200 when the basic auth is user:s3cret (401
    if not)."""

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        how = self.path.split("/")[1]
        if how in ("404", "405"):
            self.send_error(int(how))  # an HTML error page, as web servers send
        elif how == "moved":
            self.send_response(308)
            self.send_header("Location", "https://user:s3cret@gw.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif how == "close":
            self.close_connection = True
        elif how == "auth":
            token = base64.b64encode(b"user:s3cret").decode()
            ok = self.headers.get("Authorization") == f"Basic {token}"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            page = b"<html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass  # quiet


@contextlib.contextmanager
def not_a_pushgateway() -> Iterator[str]:
    """A web server that answers as NotAPushgateway (host:port), stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotAPushgateway)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _server(command: Callable[[str], list[str]], log: Path) -> Iterator[str]:
    """Start a server on a free port, wait for its /-/ready, yield its URL, stop it.

    A port taken between the probe and the start costs another try.
    """
    for _ in range(3):
        address = f"127.0.0.1:{free_port()}"
        with log.open("ab") as out:
            proc = subprocess.Popen(command(address), stdout=out, stderr=subprocess.STDOUT)
        try:
            if answers(f"http://{address}/-/ready", proc, deadline=30.0):
                yield f"http://{address}"
                return
        finally:
            stop(proc)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"{command('ADDRESS')[0]} did not start:\n{tail}")
