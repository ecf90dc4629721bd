"""Where a run came from: the plugin's version, when it ran, and the git commit."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

from pytest_llmobs import __version__


def metadata(rootdir: Path) -> dict[str, Any]:
    """The run's metadata, as the run report and the baseline record it."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {
        "plugin_version": __version__,
        "created_at": now.isoformat(),
        "git_commit": _git_commit(rootdir),
    }


def _git_commit(rootdir: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None
