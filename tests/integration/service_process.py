"""What the suites of the services-under-test tests share: the session fixture that
starts `service.py` (a real second process) and stops it with SIGTERM, and the tail of
a stdlib HTTP service that answers `ok`, prints its port and shuts its providers down
when it is stopped."""

from __future__ import annotations

from textwrap import indent

CONFTEST = """
import subprocess, sys
import pytest

@pytest.fixture(scope="session")
def service():
    proc = subprocess.Popen([sys.executable, "service.py"], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)
"""

# the end of a Handler's do_GET, and the rest of its class
ANSWER_OK = """
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass
"""


def serve(shutdown: str) -> str:
    """The service's main: listen on a free port, print it for the fixture, and run
    `shutdown` (its providers') when stopped."""
    return f"""
server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
finally:
{indent(shutdown.strip(), "    ")}
"""
