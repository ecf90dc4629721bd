"""The baseline file: a versioned document of series (written by series_json, read back by
series_parse), loaded within bounds, and told apart from files that are not ours."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pytest_llmobs.gate.jsonfile import dumps
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.series_json import series_to_json
from pytest_llmobs.gate.series_parse import SeriesError, series_from_document
from pytest_llmobs.gate.shape import Shape

SCHEMA_PREFIX = "pytest-llmobs/"  # of every file this plugin writes
BASELINE_SCHEMA = SCHEMA_PREFIX + "baseline"
RUN_SCHEMA = SCHEMA_PREFIX + "run"
# 2: tokens and cost under keys of their own ("tokens", "cost_usd"), no longer under
# "quality", where a reader of version 1 would miss them and stop gating them. Both read.
SCHEMA_VERSION = 2
# A file this plugin writes holds at most SAMPLE_LIMIT samples per series and metric
# (~9 KB); larger files are refused before reading, so loading stays bounded in memory.
MAX_FILE_BYTES = 128 * 1024 * 1024
# The top-level schema line as `baseline_document` and the run report write it (sorted
# keys, two spaces: nested keys have more), by which a truncated file is known as ours
SCHEMA_LINE = re.compile(rf'^  "schema": "{re.escape(SCHEMA_PREFIX)}[a-z]+",\r?$', re.MULTILINE)


class BaselineError(Exception):
    """A baseline or run file cannot be used; the message names the file and the problem."""


class NewerVersion(BaselineError):
    """A file of a newer schema version than this pytest-llmobs reads."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class SeriesFile:
    """A loaded baseline or run report: its series and metadata."""

    path: Path
    schema: str
    series: tuple[SeriesStats, ...]
    metadata: Mapping[str, Any]
    settings: Shape | None = None  # what shaped its series; None in older files
    tests: frozenset[str] | None = None  # the test ids that ran; None in older files
    shard: bool = False  # a shard's run report: every sample, not judged alone


def baseline_document(
    series: Sequence[SeriesStats],
    metadata: Mapping[str, Any],
    settings: Shape | None = None,
    tests: Iterable[str] | None = None,
) -> str:
    """The text of a baseline file: series, and what shaped them, when known."""
    doc: dict[str, Any] = {
        "schema": BASELINE_SCHEMA,
        "version": SCHEMA_VERSION,
        "metadata": dict(metadata),
        "series": [series_to_json(s) for s in series],
    }
    if settings is not None:
        doc["settings"] = settings.to_json()
    if tests is not None:
        doc["tests"] = sorted(tests)
    return dumps(doc) + "\n"


def digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (the baseline a shard would be judged against);
    None when there is none or it cannot be read (the shards then differ from one that
    could)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load(path: Path, schemas: Sequence[str] = (BASELINE_SCHEMA, RUN_SCHEMA)) -> SeriesFile:
    """Read a baseline (or a run report, which holds the same series).

    Raises:
        FileNotFoundError: there is no file at path.
        BaselineError: the file exists but is not a usable baseline.
    """
    return load_document(path, schemas)[0]


def load_document(
    path: Path, schemas: Sequence[str] = (BASELINE_SCHEMA, RUN_SCHEMA)
) -> tuple[SeriesFile, dict[str, Any]]:
    """Read a baseline or run report as `load` does, with its whole JSON document (what a
    run report holds besides the series), read and parsed once.

    Raises:
        FileNotFoundError: there is no file at path.
        BaselineError: the file exists but is not a usable baseline.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BaselineError(
                f"{path}: {size / 2**20:.0f} MB is more than a baseline may be "
                f"({MAX_FILE_BYTES // 2**20} MB); record it again with "
                "`pytest --llmobs --llmobs-update-baseline`, which bounds its samples"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "empty" if not raw.strip() else f"not valid JSON ({exc})"
        raise BaselineError(f"{path}: {what}") from None
    return _parse(path, doc, schemas), cast(dict[str, Any], doc)


def foreign(path: Path) -> str | None:
    """Why the file at path must not be overwritten with a baseline: it is no file of this
    plugin (a baseline path pointed at another file); None when there is none, or it is
    empty, or a file this plugin wrote, even a truncated one.

    A file of this plugin is a JSON object whose `schema` starts `pytest-llmobs/`; one that
    is no longer valid JSON (cut short) must start as the writer starts it and hold its
    top-level schema line: another file that only mentions the schema (a README) is no
    baseline.
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # no more than a baseline may hold
    except OSError:  # none there, or unreadable: writing it says why
        return None
    if not raw.strip():
        return None
    text = raw[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
    if len(raw) <= MAX_FILE_BYTES:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            pass  # cut short, or no JSON at all: told apart by the text below
        else:
            schema = doc.get("schema") if isinstance(doc, dict) else None
            ours = isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX)
            return None if ours else _foreign(path)
    if text.startswith("{") and SCHEMA_LINE.search(text):
        return None
    return _foreign(path)


def _foreign(path: Path) -> str:
    return (
        f"{path} is not a pytest-llmobs baseline: give the baseline's path, or delete the "
        "file to record a new one there"
    )


def _parse(path: Path, doc: Any, schemas: Sequence[str]) -> SeriesFile:
    if not isinstance(doc, dict) or doc.get("schema") not in schemas:
        raise BaselineError(f"{path}: not a pytest-llmobs file (no known 'schema' field)")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(f"{path}: 'version' must be a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise NewerVersion(
            f"{path}: schema version {version} needs a newer pytest-llmobs "
            f"(this one reads version {SCHEMA_VERSION}); upgrade pytest-llmobs",
            version,
        )
    if version < 1:
        raise BaselineError(f"{path}: unknown schema version {version}")
    try:
        parsed = series_from_document(doc, every=doc.get("verdict") == "shard")  # all kept
    except SeriesError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    metadata = doc.get("metadata", {})
    try:
        settings = Shape.from_json(doc["settings"]) if "settings" in doc else None
    except ValueError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    tests = doc.get("tests")
    if tests is not None and (
        not isinstance(tests, list) or not all(isinstance(t, str) for t in tests)
    ):
        raise BaselineError(f"{path}: tests must be a list of test ids, got {tests!r:.40}")
    return SeriesFile(
        path, doc["schema"], parsed, metadata if isinstance(metadata, dict) else {},
        settings, None if tests is None else frozenset(tests), doc.get("verdict") == "shard",
    )  # fmt: skip
