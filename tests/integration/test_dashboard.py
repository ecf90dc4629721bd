"""The dashboard in a real browser: headless Chromium opens the file, every panel draws."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.report.html import PANELS
from tests.integration.test_analysis import PIPELINE

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# as root, in a sandbox without network: no sandbox, and no calls home at start
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=10000",
]  # fmt: skip


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def page_data(page: Path) -> dict[str, Any]:
    """The panels' data a dashboard file holds."""
    text = page.read_text().split('<script id="llmobs-data" type="application/json">')[1]
    data: dict[str, Any] = json.loads(text.split("</script>")[0])
    return data


def artifacts() -> Path:
    folder = Path(os.environ.get("LLMOBS_TEST_ARTIFACTS", ROOT / ".artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressed run's dashboard, with a history of three runs (made once: the tests
    here only read it)."""
    folder = tmp_path_factory.mktemp("dashboard")
    (folder / "pyproject.toml").write_text(
        "[tool.llmobs]\nquality_attributes = ['overall_score']\ngroup_by = ['user_tier']\n"
    )

    def run(*args: str, **change: Any) -> subprocess.CompletedProcess[str]:
        source = PIPELINE.format(**{"seed": 0, "slow": 1.0, "drop": 0.0, "tier": None,
                                    "errors": 0, **change})  # fmt: skip
        (folder / "test_pipeline.py").write_text(source)
        env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--llmobs", "-p", "no:cacheprovider",
             "--llmobs-history", "runs.sqlite", "--llmobs-json", "report.json", *args],
            cwd=folder, capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip

    for _ in range(2):
        assert run("--llmobs-update-baseline").returncode == 0
    proc = run("--llmobs-html", "dashboard.html", seed=1, slow=1.8, drop=0.15, tier="pro")
    assert json.loads((folder / "report.json").read_text())["alerts"], proc.stdout
    return folder / "dashboard.html"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's)")
def test_every_panel_draws_in_chromium_without_console_errors(
    dashboard: Path, tmp_path: Path
) -> None:
    assert dashboard.stat().st_size < 3 * 2**20
    proc = chromium(dashboard, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-rendered="true"' in dom  # the page's script ran to its end
    errors = re.search(r'<pre id="llmobs-errors"([^>]*)>(.*?)</pre>', dom, re.S)
    assert errors is not None
    assert errors.group(2) == ""  # no uncaught error, no console.error
    assert "hidden" in errors.group(1)
    logged = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert logged == []
    for panel in PANELS:
        drawn = re.search(rf'<section[^>]*id="{panel}"[^>]*data-points="(\d+)"', dom)
        assert drawn is not None, panel
        assert int(drawn.group(1)) > 0, panel  # present, with data
    assert dom.count("<canvas") >= 20
    shot = artifacts() / "dashboard.png"
    proc = chromium(dashboard, tmp_path / "profile", "--window-size=1400,4000",
                    f"--screenshot={shot}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_llmobs_report_renders_the_same_dashboard(dashboard: Path) -> None:
    again = dashboard.with_name("again.html")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_llmobs.cli", "report", "report.json", "--html",
         str(again), "--history", "runs.sqlite"],
        cwd=dashboard.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the run regressed
    live, saved = page_data(dashboard), page_data(again)
    assert saved.keys() == live.keys()
    # the run report keeps summaries to 0.1 microsecond: the same panels, numbers rounded
    for panel in ("title", "alerts", "waterfalls", "trends", "comparison"):
        assert saved[panel] == live[panel], panel
    [saved_row] = saved["cohorts"]["rows"]
    [live_row] = live["cohorts"]["rows"]
    assert saved_row["cells"] == pytest.approx(live_row["cells"], abs=1e-6)
    for kind in ("latency_histograms", "quality_histograms", "output_histograms"):
        assert [h["current"] for h in saved[kind]] == [h["current"] for h in live[kind]]
    assert [t["value"] for t in saved["health"]] == pytest.approx(
        [t["value"] for t in live["health"]], abs=1e-4
    )
    history = subprocess.run(
        [sys.executable, "-m", "pytest_llmobs.cli", "history", "runs.sqlite", "--series",
         "llm_request"],
        cwd=dashboard.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert history.returncode == 0, history.stderr
    assert history.stdout.startswith("runs.sqlite: 3 run(s) shown, oldest first")
    assert history.stdout.count("llm_request[user_tier=pro]") == 3
    assert "llm_inference" not in history.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's)")
def test_the_browser_check_sees_a_script_error(dashboard: Path, tmp_path: Path) -> None:
    broken = dashboard.with_name("broken.html")
    page = dashboard.read_text()
    marker = 'document.body.dataset.rendered = "true";'
    assert marker in page
    broken.write_text(page.replace(marker, "notAFunction();"))
    dom = chromium(broken, tmp_path / "profile", "--dump-dom").stdout
    assert 'data-rendered="true"' not in dom
    assert re.search(r'<pre id="llmobs-errors">[^<]*notAFunction', dom)
