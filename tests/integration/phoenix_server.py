"""Arize Phoenix, a real tracing backend, for the OTLP export tests: installed once into a
venv of its own, served on free ports of 127.0.0.1 for the session, and read through its
REST API.

Phoenix never enters the project's environment: arize-phoenix-client registers a pytest
plugin that imports all of Phoenix into every pytest run, and its pins conflict with
ours. The venv is cached (`~/.cache/pytest-llmobs-tests/phoenix-<version>`) and reused
while its Phoenix is the pinned version; building it costs a minute or more, a start
about 10 s (importing Phoenix).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.loopback import LOCAL, answers, free_port, stop

VERSION = "20.26.1"  # 20.3.0 does not import on Python 3.11.7
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-llmobs-tests"
VENV = CACHE / f"phoenix-{VERSION}"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_FAILED: list[str] = []  # why pip could not install Phoenix, once it could not


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix: its base URL (OTLP/HTTP at /v1/traces, REST at /v1/...), and
    what it cost to have it."""

    url: str
    venv_seconds: float  # building the venv; 0 when a cached one was reused
    start_seconds: float  # from the start of `phoenix serve` until it answered

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span Phoenix keeps for the project (GET /v1/projects/{project}/spans):
        each `name`, `context` (`trace_id`, `span_id`), `parent_id`, `start_time` and
        `end_time` (ISO 8601, microseconds), `status_code` and flat `attributes`."""
        found: list[dict[str, Any]] = []
        query = {"limit": "1000"}
        while True:
            path = f"/v1/projects/{urllib.parse.quote(project)}/spans"
            with LOCAL.open(f"{self.url}{path}?{urllib.parse.urlencode(query)}", timeout=10) as r:
                page = json.load(r)
            found += page["data"]
            if not page.get("next_cursor"):
                return found
            query["cursor"] = page["next_cursor"]

    def wait_for_spans(self, project: str, count: int, deadline: float = 30.0) -> list[Any]:
        """The project's spans once there are `count` (Phoenix inserts in the background).

        Raises:
            AssertionError: fewer came within `deadline` seconds; says how many.
        """
        end = time.monotonic() + deadline
        while True:
            with contextlib.suppress(OSError):  # 404 until its first span made the project
                found = self.spans(project)
                if len(found) >= count:
                    return found
            if time.monotonic() > end:
                raise AssertionError(f"Phoenix kept fewer than {count} spans of {project}")
            time.sleep(0.1)


def microseconds(iso: str) -> int:
    """A Phoenix time (ISO 8601 with an offset) as microseconds since the epoch."""
    return (datetime.datetime.fromisoformat(iso) - _EPOCH) // datetime.timedelta(microseconds=1)


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Phoenix, built if needed and started once for the session; skipped with the
    reason when pip cannot install it."""
    began = time.monotonic()
    python = phoenix_python()
    built = time.monotonic() - began
    with served(python, tmp_path_factory.mktemp("phoenix"), built) as running:
        yield running


def build_in_background() -> threading.Thread:
    """Start building the venv (when needed) on a thread, so the minute pip takes passes
    while the suite's other tests run; the fixture then waits for it under the lock."""

    def build() -> None:
        with contextlib.suppress(BaseException):  # the fixture tries again, and says why
            phoenix_python()

    thread = threading.Thread(target=build, name="phoenix-venv", daemon=True)
    thread.start()
    return thread


def phoenix_python() -> Path:
    """The cached venv's interpreter, the venv built first when it has no Phoenix of the
    pinned version (under a lock: xdist workers share the cache)."""
    python = VENV / "bin" / "python"
    if _FAILED:  # once is enough: pip may take minutes to fail
        pytest.skip(_FAILED[0])
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"phoenix-{VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _has_phoenix(python):
            _build(python)
    return python


def _has_phoenix(python: Path) -> bool:
    """Whether the venv holds the pinned Phoenix, completely installed: pip writes the
    metadata last (importing Phoenix to check would cost seconds)."""
    if not python.is_file() or not (VENV / "bin" / "phoenix").is_file():
        return False
    probe = "import importlib.metadata as m; print(m.version('arize-phoenix'))"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return found.returncode == 0 and found.stdout.strip() == VERSION


def _build(python: Path) -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True, capture_output=True)
    pip: list[str | Path] = [python, "-m", "pip", "install", "--no-input", "--quiet",
                             "--disable-pip-version-check"]  # fmt: skip
    install = [*pip, f"arize-phoenix=={VERSION}"]
    done = subprocess.run(install, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
        why = (errors or done.stderr.splitlines() or ["no output"])[-1]
        _FAILED.append(f"pip cannot install arize-phoenix=={VERSION}: {why}")
        pytest.skip(_FAILED[-1])


@contextlib.contextmanager
def served(python: Path, folder: Path, built: float) -> Iterator[Phoenix]:
    """`phoenix serve` on free ports of 127.0.0.1 with its working dir in folder,
    stopped after. Raises RuntimeError (with the log's end) when it does not come up."""
    port, grpc = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "PHOENIX_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc),
        PHOENIX_WORKING_DIR=str(folder),
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",  # no fonts, pixels or downloads
    )
    log = folder / "phoenix.log"
    began = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [python.parent / "phoenix", "serve"], stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=folder,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/healthz", proc, deadline=120.0):
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"phoenix serve did not start:\n{tail}")
        yield Phoenix(url, built, time.monotonic() - began)
    finally:
        stop(proc, grace=15.0)
