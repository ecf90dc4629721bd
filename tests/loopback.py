"""Servers on 127.0.0.1 for the tests of outside services: a free port, a port that never
answers, and a started server process waited for and stopped."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

# the servers listen on 127.0.0.1 only: a proxy from the environment must not see them
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def silent() -> Iterator[str]:
    """The URL of a server that never answers: connections complete in its backlog and
    none is read."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def answers(health: str, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Whether the server answers 200 at its health URL before it exits or the deadline
    (seconds) passes."""
    end = time.monotonic() + deadline
    while proc.poll() is None and time.monotonic() < end:
        try:
            with LOCAL.open(health, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server process: SIGTERM, then SIGKILL after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
