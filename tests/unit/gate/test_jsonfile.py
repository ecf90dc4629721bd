"""Baseline writes are atomic: a killed writer or two at once never leave a mixed file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

WRITER = """
import json, os, sys, time
from pathlib import Path
from pytest_llmobs.gate.jsonfile import write_atomic

path, tag, rounds, stall = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if stall:  # stop between writing the temporary file and renaming it, to be killed there
    os.replace = lambda *args: time.sleep(60)
for i in range(rounds):
    write_atomic(path, json.dumps({"writer": tag, "round": i, "pad": [tag] * 20000}))
"""


def writer(path: Path, tag: str, rounds: int, stall: bool = False) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", WRITER, str(path), tag, str(rounds), "1" if stall else "0"]
    return subprocess.Popen(command)


def test_a_writer_killed_before_the_rename_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"writer": "old"}))
    process = writer(path, "new", 1, stall=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".baseline.json.*.tmp")):
        assert time.monotonic() < deadline, "the writer never wrote its temporary file"
        time.sleep(0.02)
    time.sleep(0.2)  # let it finish writing and fsync the temporary file
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert json.loads(path.read_text()) == {"writer": "old"}


def test_two_writers_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    processes = [writer(path, tag, 30) for tag in ("a", "b")]
    for process in processes:
        assert process.wait(timeout=120) == 0
    doc = json.loads(path.read_text())  # whole, not interleaved
    assert doc["writer"] in ("a", "b")
    assert doc["pad"] == [doc["writer"]] * 20000
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind
