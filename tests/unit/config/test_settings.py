"""Settings: precedence of sources, pyproject parsing, and errors that name the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.config.settings import (
    ConfigError,
    Settings,
    Source,
    ci_environment,
    load_pyproject,
    resolve,
)
from pytest_llmobs.config.toml_ini import toml_ini_value
from pytest_llmobs.gate.toml_text import as_toml

ROOT = Path("/project")


def test_defaults() -> None:
    settings = resolve([], ROOT)
    assert settings == Settings(baseline=ROOT / ".llmobs" / "baseline.json")


def test_first_source_wins_and_paths_start_at_their_source() -> None:
    cli = Source("command line", {"baseline": "cli.json", "enabled": True}, Path("/cwd"))
    ini = Source("ini", {"baseline": "ini.json", "quality_attributes": "a b a"}, Path("/ini"))
    settings = resolve([cli, ini], ROOT)
    assert settings.baseline == Path("/cwd/cli.json")
    assert settings.enabled is True
    assert settings.quality_attributes == ("a", "b")


def test_unset_values_fall_through() -> None:
    cli = Source("command line", {"baseline": None, "quality_attributes": None}, Path("/cwd"))
    toml = Source("toml", {"quality_attributes": ["overall_score"]}, Path("/p"))
    settings = resolve([cli, toml], ROOT)
    assert settings.quality_attributes == ("overall_score",)
    assert settings.baseline == ROOT / ".llmobs" / "baseline.json"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("answer_quality,groundedness", ("answer_quality", "groundedness")),
        ("a, b  c,,a", ("a", "b", "c")),  # commas, spaces or both; each name once
        (["model,user_tier", "domain"], ("model", "user_tier", "domain")),  # ini args
        (["model", "user_tier"], ("model", "user_tier")),  # a TOML list
    ],
)
def test_names_are_separated_by_commas_or_spaces(given: object, expected: tuple[str]) -> None:
    settings = resolve([Source("command line", {"group_by": given}, Path("/cwd"), "flag")], ROOT)
    assert settings.group_by == expected


def test_span_names_in_a_list_are_kept_whole() -> None:
    toml = Source("toml", {"request_spans": ["GET /users, all", "rag"]}, Path("/p"))
    assert resolve([toml], ROOT).request_spans == ("GET /users, all", "rag")


def test_an_empty_list_on_the_command_line_clears_the_one_below() -> None:
    cli = Source("command line", {"group_by": ""}, Path("/cwd"), "flag")
    toml = Source("toml", {"group_by": ["user_tier"], "quality_attributes": ["q"]}, Path("/p"))
    settings = resolve([cli, toml], ROOT)
    assert settings.group_by == ()
    assert settings.quality_attributes == ("q",)  # untouched: not given on the command line
    unset = Source("command line", {"group_by": None}, Path("/cwd"), "flag")
    assert resolve([unset, toml], ROOT).group_by == ("user_tier",)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("quality_attributes", 3, "expected a list of attribute names"),
        ("quality_attributes", ["ok", 1], "expected a list of attribute names"),
        ("update_baseline", "maybe", "expected true or false"),
        ("json", 5, "expected a file path"),
        ("otlp_endpoint", "127.0.0.1:²", "expected HOST:PORT, such as 127.0.0.1:4318"),
        ("slowest", "²", "expected a whole number from 0 to 10000"),
        ("exit_code", "\u0661", "expected a whole number from 0 to 255"),  # Arabic-Indic 1
        ("export_otlp", "ftp://host:21", "expected an http(s) URL, such as http://localhost:9091"),
        (
            "pushgateway",
            "http://host:port",
            "expected an http(s) URL, such as http://localhost:9091",
        ),
        ("pushgateway", "http://", "expected an http(s) URL, such as http://localhost:9091"),
        ("pushgateway", "http://a b:9091", "expected an http(s) URL without spaces"),
        ("pushgateway_job", "  ", "expected a name"),
        (
            "pushgateway",
            "http//127.0.0.1:9091",
            "expected an http(s) URL: is the ':' after http missing?",
        ),
        ("pushgateway_job", True, "expected a name"),
        ("export_timeout", "-1", "expected a number of seconds above 0 and up to 3600"),
        ("export_timeout", "0", "expected a number of seconds above 0 and up to 3600"),
        ("otlp_wait", "-1", "expected a number of seconds from 0 to 3600"),
    ],
)
def test_bad_values_quote_the_text_and_name_the_source(
    name: str, value: object, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([Source("[tool.llmobs] in /p/pyproject.toml", {name: value}, ROOT)], ROOT)
    assert (
        str(info.value)
        == f"{name} = {as_toml(value)} ([tool.llmobs] in /p/pyproject.toml): {expected}"
    )


def test_pyproject_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.llmobs]\nquality_attributes = ["relevance"]\nbaseline = "b.json"\n')
    source = load_pyproject(path)
    settings = resolve([source], tmp_path)
    assert settings.quality_attributes == ("relevance",)
    assert settings.baseline == tmp_path / "b.json"


def test_missing_pyproject_is_empty(tmp_path: Path) -> None:
    assert load_pyproject(tmp_path / "pyproject.toml").values == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.llmobs\n", "cannot read it as TOML"),
        ("[tool]\nllmobs = 3\n", "expected a table, got int"),
        ('[tool.llmobs]\nquality_atributes = ["x"]\n', "unknown key 'quality_atributes'"),
    ],
    ids=["invalid-toml", "not-a-table", "typo"],
)
def test_bad_pyproject_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_pyproject(path)
    assert str(path) in str(info.value)


def test_every_option_has_a_flag_and_an_ini_key() -> None:
    flags = {o.flag for o in OPTIONS}
    assert {"--llmobs", "--llmobs-baseline", "--llmobs-update-baseline", "--llmobs-json"} <= flags
    assert {o.ini for o in OPTIONS} >= {"llmobs_baseline", "llmobs_quality_attributes"}
    assert all(o.help[0].isupper() and not o.help.endswith(".") for o in OPTIONS)


@pytest.mark.parametrize("value", ["0", "1.5", "x", True])
def test_alpha_must_be_a_probability(value: object) -> None:
    with pytest.raises(ConfigError, match="expected a number between 0 and 1"):
        resolve([Source("command line", {"alpha": value}, ROOT)], ROOT)


def test_rule_tables_and_alpha_reach_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        "[tool.llmobs]\nalpha = 0.05\nfail_on_inconclusive = true\n"
        '[tool.llmobs.rules]\nlatency.p95 = "+15%"\n'
        '[tool.llmobs.slo]\nerror_rate = { fail = "10%" }\n'
    )
    settings = resolve([load_pyproject(path)], tmp_path)
    assert settings.fail_on_inconclusive is True
    assert settings.rules.alpha == 0.05
    tolerance = settings.rules.tolerance("llm", "latency.p95")
    assert tolerance is not None
    assert tolerance.spec == "+15%"
    slo = settings.rules.slo("error_rate")
    assert slo is not None
    assert slo.fail == pytest.approx(0.10)


def test_cli_alpha_wins_over_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.llmobs]\nalpha = 0.05\n")
    cli = Source("command line", {"alpha": "0.001"}, tmp_path)
    assert resolve([cli, load_pyproject(path)], tmp_path).rules.alpha == 0.001


@pytest.mark.parametrize("value", ["0", "1", "0.25", 0.5])
def test_sample_rate_takes_zero_to_one(value: object) -> None:
    settings = resolve([Source("command line", {"sample_rate": value}, ROOT)], ROOT)
    assert settings.sample_rate == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "all", True])
def test_sample_rate_outside_zero_to_one_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="expected a number from 0 to 1") as info:
        resolve([Source("command line", {"sample_rate": value}, ROOT)], ROOT)
    assert "(command line)" in str(info.value)


def test_group_by_takes_names_from_any_source(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmobs]\ngroup_by = ["gen_ai.request.model", "user_tier"]\n'
    )
    settings = resolve([load_pyproject(tmp_path / "pyproject.toml")], tmp_path)
    assert settings.group_by == ("gen_ai.request.model", "user_tier")
    ini = resolve([Source("ini file", {"group_by": "domain  user_tier"}, ROOT)], ROOT)
    assert ini.group_by == ("domain", "user_tier")


def test_aliases_table_extends_the_built_in_names(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmobs.aliases]\n"gen_ai.request.model" = ["model"]\ncohort = "tier"\n'
    )
    settings = resolve([load_pyproject(tmp_path / "pyproject.toml")], tmp_path)
    assert settings.aliases["gen_ai.request.model"][0] == "model"
    assert "llm.model_name" in settings.aliases["gen_ai.request.model"]
    assert settings.aliases["cohort"] == ("tier",)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('aliases = "model"', "expected a table"),
        ("[tool.llmobs.aliases]\ncohort = [1]", "cohort = \\[1\\]: expected a list of names"),
        ('[tool.llmobs.aliases]\ncohort = ["gen_ai.system"]', "cannot alias both"),
    ],
)
def test_bad_aliases_name_the_file(tmp_path: Path, table: str, message: str) -> None:
    text = table if table.startswith("[") else f"[tool.llmobs]\n{table}"
    (tmp_path / "pyproject.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        resolve([load_pyproject(tmp_path / "pyproject.toml")], tmp_path)
    assert "pyproject.toml" in str(info.value)


@pytest.mark.parametrize(
    ("environ", "on", "source"),
    [
        ({}, False, "environment variable CI is not set"),
        ({"CI": "true"}, True, "environment variable CI='true'"),
        ({"CI": "1"}, True, "environment variable CI='1'"),
        ({"CI": "woodpecker"}, True, "environment variable CI='woodpecker'"),
        ({"CI": ""}, False, "environment variable CI=''"),
        ({"CI": "0"}, False, "environment variable CI='0'"),
        ({"CI": "False"}, False, "environment variable CI='False'"),
    ],
)
def test_ci_mode_defaults_to_the_ci_variable(
    environ: dict[str, str], on: bool, source: str
) -> None:
    settings = resolve([ci_environment(environ, ROOT)], ROOT)
    assert (settings.ci, settings.ci_source) == (on, source)


def test_a_ci_setting_wins_over_the_ci_variable() -> None:
    env = ci_environment({"CI": "true"}, ROOT)
    ini = Source("ini file /p/pytest.ini", {"ci": "false"}, ROOT, "ini")
    settings = resolve([ini, env], ROOT)
    assert (settings.ci, settings.ci_source) == (
        False,
        'llmobs_ci = "false" (ini file /p/pytest.ini)',
    )
    flag = Source("command line", {"ci": True}, ROOT, "flag")
    settings = resolve([flag, ini, env], ROOT)
    assert (settings.ci, settings.ci_source) == (True, "--llmobs-ci (command line)")
    with pytest.raises(ConfigError, match=r'ci = "sometimes" \(toml\): expected true or false'):
        resolve([Source("toml", {"ci": "sometimes"}, ROOT), env], ROOT)


# case: (file name, its text, the value of llmobs_alpha as written there)
TOML_INI = {
    "native table": ("pyproject.toml", "[tool.pytest]\nllmobs_alpha = 0.05", 0.05),
    "ini_options": ("pyproject.toml", '[tool.pytest.ini_options]\nllmobs_alpha = ["x"]', ["x"]),
    "pytest.toml": ("pytest.toml", "[pytest]\nllmobs_alpha = true", True),
    ".pytest.toml": (".pytest.toml", "[pytest]\nllmobs_alpha = 1", 1),
    "pytest.toml, pyproject's table": ("pytest.toml", "[tool.pytest]\nllmobs_alpha = 1", None),
    "pyproject.toml, pytest's table": ("pyproject.toml", "[pytest]\nllmobs_alpha = 1", None),
    # any other TOML file, as given with -c: pyproject's tables if it has them, else [pytest]
    "-c file, pytest's table": ("ci.toml", "[pytest]\nllmobs_alpha = 0.1", 0.1),
    "-c file, native table": ("ci.toml", "[tool.pytest]\nllmobs_alpha = 0.2", 0.2),
    "-c file, ini_options": ("ci.toml", '[tool.pytest.ini_options]\nllmobs_alpha = "x"', "x"),
    "-c file, empty tool.pytest": ("ci.toml", "[tool.pytest]\n[pytest]\nllmobs_alpha = 3", 3),
    "other table": ("pyproject.toml", "[tool.llmobs]\nalpha = 0.05", None),
    "ini file": ("tox.ini", "[pytest]\nllmobs_alpha = 0.05", None),
    "bad TOML": ("pyproject.toml", "[tool.pytest\n", None),
}


@pytest.mark.parametrize("case", list(TOML_INI))
def test_toml_ini_value_reads_pytests_own_table(tmp_path: Path, case: str) -> None:
    name, text, expected = TOML_INI[case]
    (tmp_path / name).write_text(text + "\n")
    assert toml_ini_value(tmp_path / name, "llmobs_alpha") == expected
    assert toml_ini_value(None, "llmobs_alpha") is None


def test_toml_ini_value_leaves_an_overridden_key_to_pytest(tmp_path: Path) -> None:
    # a key given with -o has the override's value, not the file's
    (tmp_path / "pytest.toml").write_text("[pytest]\nllmobs_alpha = true\n")
    assert toml_ini_value(tmp_path / "pytest.toml", "llmobs_alpha", ["llmobs_alpha = 1"]) is None
    assert toml_ini_value(tmp_path / "pytest.toml", "llmobs_alpha", ["llmobs_ci=1"]) is True


def test_ini_types_let_pytest_hand_over_values_as_written() -> None:
    kinds = {o.name: o.ini_type(typed=True) for o in OPTIONS}
    assert kinds["alpha"] == str | float
    assert kinds["ci"] == str | bool
    assert kinds["slowest"] == str | int
    assert kinds["json"] == "string"
    assert kinds["group_by"] == "args"
    assert {o.ini_type(typed=False) for o in OPTIONS} == {"string", "args"}


def test_receiver_settings_without_the_receiver_are_noted_or_typed_ones_refused() -> None:
    added = Source("addopts or PYTEST_ADDOPTS", {"otlp_wait": "3"}, Path("/cwd"), "flag")
    toml = Source("[tool.llmobs] in pyproject.toml", {"otlp_endpoint": "127.0.0.1:4318"}, ROOT)
    assert resolve([added, toml], ROOT).notes == (
        'otlp_endpoint = "127.0.0.1:4318" ([tool.llmobs] in pyproject.toml) '
        "does nothing without --llmobs-otlp",
        "--llmobs-otlp-wait=3 (addopts or PYTEST_ADDOPTS) does nothing without --llmobs-otlp",
    )
    assert resolve([Source("ini", {"otlp": True}, ROOT), added, toml], ROOT).notes == ()
    typed = Source("command line", {"otlp_wait": "3"}, Path("/cwd"), "flag")
    with pytest.raises(ConfigError, match=r"--llmobs-otlp-wait=3 \(command line\) does nothing"):
        resolve([typed], ROOT)


def test_export_settings_take_urls_as_prometheus_takes_them() -> None:
    cli = Source(
        "command line",
        {"pushgateway": "localhost:9091", "export_otlp": "https://otlp.example:4318/v1/traces"},
        Path("/cwd"),
        "flag",
    )
    settings = resolve([cli], ROOT)
    assert settings.pushgateway == "http://localhost:9091"  # as prometheus_client reads it
    assert settings.export_otlp == "https://otlp.example:4318/v1/traces"
    assert (settings.pushgateway_job, settings.export_timeout) == ("llmobs", 10.0)


def test_an_export_url_left_empty_on_the_command_line_is_refused() -> None:
    # `--llmobs-export-otlp=${OTLP_URL}` with the variable unset: asked for, not given
    typed = Source("addopts or PYTEST_ADDOPTS", {"export_otlp": ""}, Path("/cwd"), "flag")
    with pytest.raises(ConfigError) as info:
        resolve([typed], ROOT)
    assert str(info.value) == (
        "--llmobs-export-otlp= (addopts or PYTEST_ADDOPTS): expected an http(s) URL"
    )


def test_export_settings_without_what_they_tune_are_noted_or_typed_ones_refused() -> None:
    toml = Source("[tool.llmobs] in pyproject.toml", {"pushgateway_job": "nightly"}, ROOT)
    assert resolve([toml], ROOT).notes == (
        'pushgateway_job = "nightly" ([tool.llmobs] in pyproject.toml) '
        "does nothing without --llmobs-pushgateway",
    )
    with_gateway = Source("ini", {"pushgateway": "http://pg:9091"}, ROOT)
    assert resolve([with_gateway, toml], ROOT).notes == ()
    typed = Source("command line", {"export_timeout": "3"}, Path("/cwd"), "flag")
    with pytest.raises(ConfigError) as info:
        resolve([typed], ROOT)
    assert str(info.value) == (
        "--llmobs-export-timeout=3 (command line) does nothing without --llmobs-export-otlp"
        " or --llmobs-pushgateway: add --llmobs-export-otlp or --llmobs-pushgateway to this run"
    )
    otlp = Source("ini", {"export_otlp": "http://collector:4318"}, ROOT)
    assert resolve([typed, otlp], ROOT).export_timeout == 3.0


def test_a_path_through_a_parent_folder_is_said_as_a_user_reads_it() -> None:
    cli = Source("command line", {"baseline": "../outside/base.json"}, Path("/repo/proj"))
    assert resolve([cli], ROOT).baseline == Path("/repo/outside/base.json")


def test_a_shard_needs_its_run_report_and_judges_nothing() -> None:
    typed = {"enabled": True, "shard": True}
    # the llmobs command reads `shard = true` in [tool.llmobs] without a json (the plugin
    # requires one: tests/integration/test_shards.py)
    assert resolve([Source("[tool.llmobs]", {"shard": True}, ROOT)], ROOT).shard
    given = {**typed, "json": "s.json", "markdown": "m.md"}
    with pytest.raises(ConfigError, match=r"--llmobs-markdown=m\.md .*llmobs report RUN"):
        resolve([Source("command line", given, ROOT, "flag")], ROOT)
    given = {**typed, "json": "s.json", "update_baseline": True}
    with pytest.raises(ConfigError, match="llmobs baseline update"):
        resolve([Source("command line", given, ROOT, "flag")], ROOT)
    # an ini file's reports are meant for the judged runs: set aside, with a note
    ini = Source("ini file pytest.ini", {"html": "d.html", "history": "h.sqlite"}, ROOT, "ini")
    cli = Source("command line", {**typed, "json": "s.json"}, ROOT, "flag")
    settings = resolve([cli, ini], ROOT)
    assert (settings.shard, settings.html, settings.history) == (True, None, None)
    assert settings.json == ROOT / "s.json"
    assert [n.split(" is ")[0] for n in settings.notes] == [
        'llmobs_html = "d.html" (ini file pytest.ini)',
        'llmobs_history = "h.sqlite" (ini file pytest.ini)',
    ]
