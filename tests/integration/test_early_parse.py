"""The guard against pytest's early parse, however the words reach pytest."""

from __future__ import annotations

import pytest

from pytest_llmobs.run.early_parse import _setup

SUITE = "def test_one():\n    pass\n"


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A repository folder with a pytest table, the suite in suite/ with its own ini."""
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    suite = pytester.mkdir("suite")
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_one.py").write_text(SUITE)
    (pytester.path / "out.json").write_text("{}")  # exists: the early parse takes it as a path
    return pytester


def test_words_from_pytest_addopts_are_guarded(
    repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "--llmobs-json out.json")
    result = repo.runpytest_subprocess("--llmobs", "suite")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--llmobs-json out.json: pytest read the value*"])


@pytest.mark.skipif(pytest.version_tuple < (8, 2), reason="pytest reads @file args from 8.2")
def test_words_from_an_args_file_are_guarded(repo: pytest.Pytester) -> None:
    (repo.path / "args.txt").write_text("--llmobs-json\nout.json\n")
    result = repo.runpytest_subprocess("--llmobs", "suite", "@args.txt")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--llmobs-json out.json: pytest read the value*"])
    # test paths from an args file are no separate words: nothing moved
    (repo.path / "paths.txt").write_text("suite\n")
    result = repo.runpytest_subprocess("--llmobs", "@paths.txt", "--llmobs-json=suite.json")
    assert result.ret == 0, result.stderr.str()


def test_another_plugins_separate_word_that_moves_the_rootdir_stops_the_gate(
    repo: pytest.Pytester,
) -> None:
    repo.makepyfile(myplugin="def pytest_addoption(parser):\n    parser.addoption('--my-out')\n")
    args = ("-p", "myplugin", "suite", "--my-out", "out.json")
    result = repo.runpytest_subprocess("--llmobs", "--llmobs-json=suite.json", *args)
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*pytest chose rootdir * which the test paths alone give: the value of an option*"]
    )
    assert repo.runpytest_subprocess(*args).ret == 0  # without the gate, none of its business
    # the gate turned on by the config file the move hid: stopped all the same
    (repo.path / "suite" / "pytest.ini").write_text("[pytest]\nllmobs = true\n")
    result = repo.runpytest_subprocess(*args)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*pytest chose rootdir * which the test paths alone give*"])


def test_collect_only_does_not_judge(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess("--llmobs", "suite", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    assert "llmobs" not in result.stdout.str()


def test_an_over_long_value_is_no_crash(repo: pytest.Pytester) -> None:
    result = repo.runpytest_subprocess("suite", "--llmobs", "--llmobs-json", "x" * 300)
    assert result.ret == 0, result.stderr.str()


def test_pytest_still_tells_where_it_would_root(repo: pytest.Pytester) -> None:
    # the guard asks a private function of pytest: this fails first if it is renamed
    config = repo.parseconfig("suite")
    found = _setup(config, ["suite"])
    assert found is not None
    assert found[:2] == (repo.path / "suite", repo.path / "suite" / "pytest.ini")
    found = _setup(config, ["suite", "out.json"])
    assert found is not None
    assert found[:2] == (repo.path, repo.path / "pyproject.toml")


@pytest.mark.parametrize("args", [("--help",), ("--llmobs", "--help"), ("--version",)])
def test_help_and_version_still_work(repo: pytest.Pytester, args: tuple[str, ...]) -> None:
    # they parse no test paths: the guard must not ask for them
    result = repo.runpytest_subprocess(*args)
    assert result.ret == 0, result.stderr.str()
    if "--help" in args:
        result.stdout.fnmatch_lines(["*give values with =, as --llmobs-json=PATH*"])


def test_the_value_before_the_test_path_is_named_with_its_fix(pytester: pytest.Pytester) -> None:
    # pytest takes the config file of the first path that has one: here the value's folder
    for folder in ("app", "ci"):
        pytester.mkdir(folder)
        (pytester.path / folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (pytester.path / "app" / "test_one.py").write_text(SUITE)
    (pytester.path / "ci" / "run.json").write_text("{}")
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-json", "ci/run.json", "app")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--llmobs-json ci/run.json: pytest read the value as a test path*"
         "; write --llmobs-json=ci/run.json"]
    )  # fmt: skip
