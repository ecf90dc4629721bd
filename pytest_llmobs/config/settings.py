"""Every user setting resolved once, from its sources, into a frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmobs.config import shard_options
from pytest_llmobs.config.option_values import BadValue, convert
from pytest_llmobs.config.options import OPTIONS, Option
from pytest_llmobs.config.pyproject_table import (
    PYPROJECT_TABLE,
    RULE_TABLES,
    PyprojectError,
    has_pytest_table,
    llmobs_table,
)
from pytest_llmobs.config.unmatched import Named, from_table
from pytest_llmobs.gate.attribute_config import (
    TableError,
    aliases_from_config,
    redactor_from_config,
)
from pytest_llmobs.gate.price_table import PRICES, Price, parse_prices
from pytest_llmobs.gate.redact import Redactor
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import RuleError, Rules
from pytest_llmobs.gate.semconv import alias_map, names_for
from pytest_llmobs.gate.severity import Severity
from pytest_llmobs.gate.toml_text import as_toml

DEFAULT_BASELINE = Path(".llmobs") / "baseline.json"


class ConfigError(Exception):
    """A setting has a bad value; the message names where it came from."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run."""

    enabled: bool = False
    baseline: Path = DEFAULT_BASELINE
    update_baseline: bool = False
    json: Path | None = None
    shard: bool = False  # recorded for `llmobs combine`, not judged
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
    otlp: bool = False  # receive the spans services under test export
    otlp_endpoint: tuple[str, int] = ("127.0.0.1", 0)  # 0: a free port
    otlp_wait: float = 5.0  # seconds, at most, for services' last spans
    export_otlp: str | None = None  # where the run's spans go after it is judged
    pushgateway: str | None = None  # where its metrics are pushed
    pushgateway_job: str = "llmobs"
    prometheus: Path | None = None  # where its metrics are written, for a textfile collector
    export_timeout: float = 10.0  # seconds, at most, for each outside service
    rules: Rules = field(default_factory=Rules)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=alias_map)
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(PRICES))
    redact: Redactor = field(default_factory=Redactor)
    named: tuple[Named, ...] = ()  # names that must match something the run measures
    notes: tuple[str, ...] = ()  # warnings about the configuration itself
    pyproject: Path | None = None  # whose [tool.llmobs] was read (the plugin's run)


DEFAULTS = {name: f.default for name, f in Settings.__dataclass_fields__.items()}


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
    """The `[tool.llmobs]` table of a pyproject.toml, labelled with the file (empty for a
    missing file).

    Raises:
        ConfigError: the file cannot be read or parsed, or the table is not a table.
    """
    try:
        table = llmobs_table(path)
    except PyprojectError as exc:
        raise ConfigError(str(exc)) from None
    return Source(f"{PYPROJECT_TABLE} in {path}", table, path.parent)


def unread_table(candidate: Path, read: Path, rootdir: Path) -> str | None:
    """Why settings would be lost: a pyproject.toml with a `[tool.llmobs]` table (in the
    folder pytest was run from, or above a test path) that is not the one this run
    reads, since pytest rooted elsewhere; None when there is none.

    Raises:
        ConfigError: the candidate cannot be read as TOML.
    """
    if candidate.resolve() == read.resolve() or not load_pyproject(candidate).values:
        return None
    if has_pytest_table(candidate):
        fix = f"move the table to {read}, or run pytest on the tests under {candidate.parent}"
    else:
        fix = "add a [tool.pytest.ini_options] table to it so that pytest roots there"
    return (
        f"{candidate} has a {PYPROJECT_TABLE} table that this run would not read: pytest "
        f"chose rootdir {rootdir}, so the settings come from {read}; {fix}"
    )


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
    try:  # what a shard sets aside: a shard is judged once combined
        shard_notes = shard_options.set_aside(values, given_by, DEFAULTS)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
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
        notes=(*_idle(values, given_by), *shard_notes),
    )  # fmt: skip


# settings that only tune another one: what each does nothing without
_TUNES = {
    "otlp_endpoint": ("otlp",),
    "otlp_wait": ("otlp",),
    "pushgateway_job": ("pushgateway",),
    "export_timeout": ("export_otlp", "pushgateway"),
}


def _idle(values: Mapping[str, Any], given_by: Mapping[str, Source]) -> tuple[str, ...]:
    """A note for each setting given while what it tunes is off (--llmobs-otlp-wait
    without --llmobs-otlp); one typed on this command line stops the run, as an llmobs
    option typed without --llmobs does (a file's may be meant for the runs that turn
    the other on)."""
    notes = []
    for option in OPTIONS:
        source, tuned = given_by.get(option.name), _TUNES.get(option.name, ())
        if source is None or not tuned or any(values.get(name) for name in tuned):
            continue
        flags = " or ".join("--llmobs-" + name.replace("_", "-") for name in tuned)
        said = source.origin(option, source.values[option.name])
        said += f" does nothing without {flags}"
        if source.label == "command line":
            raise ConfigError(f"{said}: add {flags} to this run")
        notes.append(said)
    return tuple(notes)


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
                elif raw == "" and option.kind == "url" and source.style == "flag":
                    # asked for, but where? (a CI variable left unset, most likely)
                    raise ConfigError(f"{source.origin(option, raw)}: expected an http(s) URL")
                continue
            try:
                values[option.name] = convert(option, raw, source.base_dir)
            except BadValue as exc:
                raise ConfigError(f"{source.origin(option, raw)}: {exc}") from None
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
    try:
        return redactor_from_config(table, group_by, aliases)
    except TableError as exc:
        where = f"redact ({source.label})" if source else "redact"
        raise ConfigError(f"{where}: {exc}") from None


def _aliases(source: Source) -> dict[str, tuple[str, ...]]:
    """The built-in alias map extended by a source's `aliases` table."""
    try:
        return aliases_from_config(source.values["aliases"])
    except TableError as exc:
        raise ConfigError(f"aliases ({source.label}): {exc}") from None
