"""Files as this plugin writes them: JSON with sorted keys that diffs well, and every file
written atomically, so that a crash never leaves half of one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with sorted keys, one key per line, and lists of numbers kept on one line.

    That keeps a baseline readable and its git diffs small.
    """
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(value[k], indent + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [inner + dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, list) and all(type(v) in (int, float) for v in value):
        if not all(math.isfinite(v) for v in value if type(v) is float):
            raise ValueError("Out of range float values are not JSON compliant")
        return "[" + ", ".join(map(repr, value)) + "]"  # as json.dumps writes them, faster
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes it private (0600); keep the old file's mode, or the usual 0644
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
