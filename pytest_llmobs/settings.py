"""Every user setting resolved once, from its sources, into a frozen object."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmobs.gate.price_table import PRICES, Price, parse_prices
from pytest_llmobs.gate.redact import RedactError, Redactor, redactor
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import RuleError, Rules
from pytest_llmobs.gate.semconv import AliasError, alias_map, names_for
from pytest_llmobs.gate.severity import SEVERITIES, Severity
from pytest_llmobs.gate.toml_text import as_toml
from pytest_llmobs.options import OPTIONS, Option
from pytest_llmobs.unmatched import Named, closest, from_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_BASELINE = Path(".llmobs") / "baseline.json"
PYPROJECT_TABLE = "[tool.llmobs]"


class ConfigError(Exception):
    """A setting has a bad value; the message names where it came from."""


# Tables only pyproject.toml can hold: tolerance rules, per-series overrides, SLOs.
RULE_TABLES = frozenset({"rules", "overrides", "slo"})
PYPROJECT_KEYS = (
    frozenset(o.name for o in OPTIONS if o.name not in ("enabled", "update_baseline"))
    | RULE_TABLES
    | {"aliases"}  # more names for attributes: {"gen_ai.request.model" = ["model"]}
    | {"prices"}  # model = {input = USD per 1M tokens, output = ...}
    | {"redact"}  # allow = [attributes a report may show], patterns = [regexes to mask]
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run."""

    enabled: bool = False
    baseline: Path = DEFAULT_BASELINE
    update_baseline: bool = False
    json: Path | None = None
    junitxml: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    history: Path | None = None
    exit_code: int = 1
    quality_attributes: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    alpha: float = 0.01
    sample_rate: float = 1.0
    fail_on_inconclusive: bool = False
    slowest: int = 5
    quality_threshold: float = 0.6
    request_spans: tuple[str, ...] = ()
    fail_on_alert: Severity | None = None
    verbose: bool = False  # every check in the terminal summary
    ci: bool = False
    ci_source: str = "default"  # what turned CI mode on or off, in the user's words
    no_fallback: bool = False
    rules: Rules = field(default_factory=Rules)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=alias_map)
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(PRICES))
    redact: Redactor = field(default_factory=Redactor)
    named: tuple[Named, ...] = ()  # names that must match something the run measures
    notes: tuple[str, ...] = ()  # warnings about the configuration itself


@dataclass(frozen=True)
class Source:
    """Raw values from one place, with the folder their relative paths start from."""

    label: str
    values: Mapping[str, Any]
    base_dir: Path
    style: Literal["flag", "ini", "key", "env"] = "key"  # how the source names a setting

    def name_of(self, option: Option) -> str:
        """The setting's name as the user wrote it here: --llmobs-alpha, llmobs_alpha, alpha."""
        return {"flag": option.flag, "ini": option.ini}.get(self.style, option.name)

    def origin(self, option: Option, raw: Any) -> str:
        """Where a value came from, as the user wrote it: `llmobs_ci = 'true' (ini file ...)`."""
        if self.style == "env":
            return self.label
        if self.style == "flag":
            shown = "" if option.kind == "bool" else f"={raw}"
            return f"{option.flag}{shown} ({self.label})"
        return f"{self.name_of(option)} = {as_toml(raw)} ({self.label})"


def ci_environment(environ: Mapping[str, str], base_dir: Path) -> Source:
    """CI mode's default: on when the environment variable CI is set to anything but
    empty, 0 or false, as GitHub Actions, GitLab CI, CircleCI, Buildkite and Azure set it."""
    raw = environ.get("CI")
    if raw is None:
        return Source("environment variable CI is not set", {"ci": False}, base_dir, "env")
    on = raw.strip().lower() not in ("", "0", "false")
    return Source(f"environment variable CI={raw!r}", {"ci": on}, base_dir, "env")


def load_pyproject(path: Path) -> Source:
    """Read the `[tool.llmobs]` table of a pyproject.toml.

    Args:
        path: the pyproject.toml; a missing file gives an empty source.

    Returns:
        The table's values, labelled with the file.

    Raises:
        ConfigError: the file cannot be read or parsed, or the table is not a table.
    """
    label = f"{PYPROJECT_TABLE} in {path}"
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return Source(label, {}, path.parent)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML: {exc}") from None
    table = data.get("tool", {}).get("llmobs", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{label}: expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - PYPROJECT_KEYS)
    if unknown:
        known = ", ".join(sorted(PYPROJECT_KEYS))
        hint = closest(unknown[0], PYPROJECT_KEYS)
        raise ConfigError(f"{label}: unknown key {unknown[0]!r}{hint} (known keys: {known})")
    return Source(label, table, path.parent)


def unread_table(candidate: Path, read: Path, rootdir: Path) -> str | None:
    """Why settings would be lost: a pyproject.toml with a `[tool.llmobs]` table (in the
    folder pytest was run from, or above a test path) that is not the one this run
    reads, since pytest rooted elsewhere; None when there is none.

    Raises:
        ConfigError: the candidate cannot be read as TOML.
    """
    if candidate.resolve() == read.resolve() or not load_pyproject(candidate).values:
        return None
    if _has_pytest_table(candidate):
        fix = f"move the table to {read}, or run pytest on the tests under {candidate.parent}"
    else:
        fix = "add a [tool.pytest.ini_options] table to it so that pytest roots there"
    return (
        f"{candidate} has a {PYPROJECT_TABLE} table that this run would not read: pytest "
        f"chose rootdir {rootdir}, so the settings come from {read}; {fix}"
    )


def _has_pytest_table(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return "pytest" in tomllib.load(fh).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def resolve(sources: list[Source], rootdir: Path) -> Settings:
    """Resolve settings from sources in order of precedence, first wins.

    Args:
        sources: e.g. command line, ini file, pyproject table; unset values are absent or None.
        rootdir: where the default baseline path starts from.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: a value has the wrong type; the message quotes it and names its source.
    """
    values, given_by = _values(sources, rootdir)
    alpha = values.get("alpha", Settings.alpha)
    tables = [s for s in sources if RULE_TABLES & set(s.values)]
    try:
        rules = rules_from_config(tables[0].values, tables[0].label, alpha) if tables else None
    except RuleError as exc:
        raise ConfigError(str(exc)) from None
    given = [s for s in sources if "aliases" in s.values]
    aliases = _aliases(given[0]) if given else alias_map()
    given = [s for s in sources if "redact" in s.values]
    redact = _redactor(given[0] if given else None, values.get("group_by", ()), aliases)
    return Settings(
        **values, rules=rules or Rules(alpha=alpha), aliases=aliases, prices=_prices(sources),
        redact=redact, named=_named(values, given_by, aliases, sources),
    )  # fmt: skip


def _values(sources: list[Source], rootdir: Path) -> tuple[dict[str, Any], dict[str, Source]]:
    """Each option's value, converted, from the first source that gives it; and which
    source that was."""
    values: dict[str, Any] = {"baseline": rootdir / DEFAULT_BASELINE}
    given_by: dict[str, Source] = {}
    for option in OPTIONS:
        # Lowest precedence first, so the value of the first source given is the one kept.
        for source in reversed(sources):
            raw = source.values.get(option.name)
            if raw is None or raw == "" or raw == []:
                if raw == "" and option.kind == "names" and source.style == "flag":
                    values[option.name] = ()  # `--llmobs-group-by=` clears the list
                continue
            values[option.name] = _convert(option, raw, source)
            given_by[option.name] = source
            if option.name == "ci":
                values["ci_source"] = source.origin(option, raw)
    return values, given_by


def _prices(sources: list[Source]) -> dict[str, Price]:
    """The price table, extended by the first source's `prices` table."""
    priced = [s for s in sources if "prices" in s.values]
    if not priced:
        return dict(PRICES)
    try:
        return {**PRICES, **parse_prices(priced[0].values["prices"], f"prices ({priced[0].label})")}
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _named(
    values: Mapping[str, Any],
    given_by: Mapping[str, Source],
    aliases: Mapping[str, tuple[str, ...]],
    sources: list[Source],
) -> tuple[Named, ...]:
    """The names of the settings that must match something the run measures, each with
    where the user wrote it."""
    named = []
    for option in OPTIONS:
        if option.name in ("group_by", "quality_attributes") and option.name in given_by:
            by = given_by[option.name]
            for name in values[option.name]:
                where = f"{by.name_of(option)} {as_toml(name)} ({by.label})"
                named.append(Named("attribute", names_for(name, aliases), where))
    # each table is read from the first source that has it, as resolve() reads it
    for keys in (RULE_TABLES, {"aliases"}, {"redact"}):
        holder = next((s for s in sources if keys & set(s.values)), None)
        if holder is not None:
            table = {k: v for k, v in holder.values.items() if k in keys}
            named += from_table(table, holder.label)
    return tuple(named)


def _redactor(
    source: Source | None, group_by: tuple[str, ...], aliases: Mapping[str, tuple[str, ...]]
) -> Redactor:
    """The default redactor, extended by a source's `redact` table; grouping attributes,
    whose values name series anyway, are always shown."""
    table: Any = source.values["redact"] if source else {}
    where = f"redact ({source.label})" if source else "redact"
    if not isinstance(table, dict) or set(table) - {"allow", "patterns"}:
        raise ConfigError(f"{where}: expected a table with `allow` and `patterns` lists")
    lists = {}
    for key in ("allow", "patterns"):
        items = table.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(f"{where}: {key} = {as_toml(items)}: expected a list of strings")
        lists[key] = items
    try:
        return redactor((*lists["allow"], *group_by), lists["patterns"], aliases)
    except RedactError as exc:
        raise ConfigError(f"{where}: patterns: {exc}") from None


def _aliases(source: Source) -> dict[str, tuple[str, ...]]:
    """The built-in alias map extended by a source's `aliases` table."""
    table = source.values["aliases"]
    where = f"aliases ({source.label})"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of name = [other names]")
    extra: dict[str, list[str]] = {}
    for name, others in table.items():
        names = [others] if isinstance(others, str) else others
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{where}: {name} = {as_toml(others)}: expected a list of names")
        extra[str(name)] = names
    try:
        return alias_map(extra)
    except AliasError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _convert(option: Option, raw: Any, source: Source) -> Any:
    where = source.origin(option, raw)
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return raw.strip().lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false")
    if option.kind in ("int", "count"):
        text = str(raw).strip()
        low, high = (0, 255) if option.kind == "int" else (0, 10_000)
        if isinstance(raw, bool) or not text.isdigit() or not low <= int(text) <= high:
            raise ConfigError(f"{where}: expected a whole number from {low} to {high}")
        return int(text)
    if option.kind == "number":
        number = _float(raw)
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a number")
        return number
    if option.kind == "severity":
        text = str(raw).strip().lower()
        if text not in SEVERITIES:
            raise ConfigError(f"{where}: expected one of {', '.join(SEVERITIES)}")
        return text
    if option.kind in ("float", "rate"):
        number = _float(raw)
        if option.kind == "rate" and 0 <= number <= 1:
            return number
        if not 0 < number < 1:
            bounds = "from 0 to 1" if option.kind == "rate" else "between 0 and 1"
            raise ConfigError(f"{where}: expected a number {bounds}")
        return number
    if option.kind == "path":
        if not isinstance(raw, (str, Path)) or not str(raw).strip():
            raise ConfigError(f"{where}: expected a file path")
        return source.base_dir / Path(str(raw).strip())
    return _names(option, raw, where)


def _names(option: Option, raw: Any, where: str) -> tuple[str, ...]:
    """A list of names: text separated by spaces or commas, or a list of strings."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise ConfigError(f"{where}: expected a list of attribute names")
    if isinstance(raw, str):  # text: names separated by spaces or commas
        parts = raw.replace(",", " ").split()
    elif option.name == "request_spans":  # a list of span names, which may hold either
        parts = [n.strip() for n in names]
    else:  # attribute names hold neither: `model,user_tier` in a list is two
        parts = [p.strip() for n in names for p in n.split(",") if p.strip()]
    return tuple(dict.fromkeys(parts))


def _float(raw: Any) -> float:
    """The value as a number, or NaN (which every range check refuses) for anything else,
    true and false included."""
    if isinstance(raw, bool):
        return math.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan
