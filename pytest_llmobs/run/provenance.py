"""Where a run came from: the plugin's version, when it ran, the suite, git commit and branch."""

from __future__ import annotations

import datetime
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from pytest_llmobs import __version__

# where CI services name the branch being built (a pull request's own branch first);
# a checkout of a commit, as CI makes, has no branch git could name
_BRANCH_VARIABLES = (
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "BRANCH_NAME",
)


def metadata(rootdir: Path) -> dict[str, Any]:
    """The run's metadata, as the run report and the baseline record it."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {
        "run_id": uuid.uuid4().hex,  # names the run in what it sends to the live stack
        "plugin_version": __version__,
        "created_at": now.isoformat(),
        "git_commit": _git(rootdir, "rev-parse", "HEAD"),
        "git_branch": _branch(rootdir),
        "suite": rootdir.name,
    }


def _branch(rootdir: Path) -> str | None:
    for variable in _BRANCH_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    branch = _git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    return None if branch == "HEAD" else branch


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = out.stdout.strip()
    return found if out.returncode == 0 and found else None
