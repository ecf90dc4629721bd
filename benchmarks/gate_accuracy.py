"""How often the gate raises false alarms, and how often it catches real regressions.

A seeded simulation that runs the real compare code (decisions only: confidence intervals
do not change a verdict and are skipped) over many simulated runs of 50 series x 5
metrics, each series kept as a run report keeps it (bounded samples, rounded values: what
the plugin judges), beside a naive rule that alarms when a point estimate passes the
tolerance (p95 +10%, quality -0.05, error rate +2pp) with no statistics at all.

Data: each series has 60 test cases with their own typical latency and quality (the
spread between prompts: output length, retrieval size), and the spans of one case vary
around it, as a model answering the same prompt again does. Log-latency has sigma 0.3 or
0.8 in all, of which 0.15 within a case; quality scores have sd 0.15 in all, of which
0.05 within a case. Errors are Bernoulli per span, 1% unless the cell says more.

For every cell it prints the shares of `regression`, `inconclusive` and `pass` among the
watched checks (the changed check; in A/A and drift cells, every check of the kind), and
the share of runs with a false regression anywhere.

Run: python benchmarks/gate_accuracy.py [TRIALS]   (default 400 per cell, 2 processes)
"""

from __future__ import annotations

import fnmatch
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np

from pytest_llmobs.gate.aggregate import summarize_latency
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import QualitySummary, SeriesKey, SeriesStats
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.stored import as_stored

SERIES = 50
CASES = 60
CASE_IDS = tuple(f"test[{i}]" for i in range(CASES))
LATENCY_WITHIN = 0.15  # log-latency sd of one prompt answered again
QUALITY_SD, QUALITY_WITHIN = 0.15, 0.05


@dataclass(frozen=True)
class Cell:
    name: str
    metric: str  # the check watched: on s0, or on every series when `everywhere`
    spans: int  # spans per series
    sigma: float
    latency_factor: float = 1.0
    quality_drop: float = 0.0
    error_rate: float = 0.01
    detect: bool = True  # the watched check should regress; False: any regression is false
    everywhere: bool = False  # the change applies to every series (a machine's drift)

    @property
    def changed(self) -> bool:
        return self.latency_factor != 1.0 or self.quality_drop != 0.0 or self.error_rate != 0.01


CELLS = (
    Cell("A/A, sigma 0.3", "*", 300, 0.3, detect=False, everywhere=True),
    Cell("A/A, sigma 0.8", "*", 300, 0.8, detect=False, everywhere=True),
    Cell("p50 +5% (tolerance +10%), n=2000", "latency.p50", 2000, 0.3, 1.05, detect=False),
    Cell("p95 +8% (tolerance +10%), n=2000", "latency.p95", 2000, 0.3, 1.08, detect=False),
    Cell(
        "quality -0.03 (tolerance -0.05), n=300",
        "quality.score",
        300,
        0.3,
        quality_drop=0.03,
        detect=False,
    ),
    Cell(
        "drift +3% on every span, n=1000",
        "latency.*",
        1000,
        0.3,
        1.03,
        detect=False,
        everywhere=True,
    ),
    Cell("p95 +20%, n=300, sigma 0.3", "latency.p95", 300, 0.3, latency_factor=1.2),
    Cell("p95 +20%, n=1000, sigma 0.3", "latency.p95", 1000, 0.3, latency_factor=1.2),
    Cell("p95 +20%, n=3000, sigma 0.3", "latency.p95", 3000, 0.3, latency_factor=1.2),
    Cell("p50 +20%, n=100, sigma 0.3", "latency.p50", 100, 0.3, latency_factor=1.2),
    Cell("quality -0.10 (sd 0.15), n=50", "quality.score", 50, 0.3, quality_drop=0.10),
    Cell("error rate 1% -> 5%, n=500", "error_rate", 500, 0.3, error_rate=0.05),
    Cell("error rate 1% -> 5%, n=1000", "error_rate", 1000, 0.3, error_rate=0.05),
    Cell("error rate 1% -> 5%, n=2000", "error_rate", 2000, 0.3, error_rate=0.05),
)
NAIVE = {"latency.p95": 0.10, "latency.p50": 0.10, "quality.score": -0.05, "error_rate": 0.02}
WORDS = ("regression", "inconclusive", "pass")


def series(
    rng: np.random.Generator, name: str, cell: Cell, case_ms: np.ndarray, case_q: np.ndarray,
    changed: bool,
) -> SeriesStats:  # fmt: skip
    """One series of one run: spans spread over the cases."""
    case = np.arange(cell.spans) % CASES
    factor = cell.latency_factor if changed else 1.0
    latency = case_ms[case] * factor * rng.lognormal(0, LATENCY_WITHIN, cell.spans)
    drop = cell.quality_drop if changed else 0.0
    quality = case_q[case] - drop + rng.normal(0, QUALITY_WITHIN, cell.spans)
    errors = int(rng.binomial(cell.spans, cell.error_rate if changed else 0.01))
    return SeriesStats(
        key=SeriesKey(name),
        count=cell.spans,
        errors=errors,
        latency=summarize_latency(latency),
        quality={"score": QualitySummary(cell.spans, float(np.mean(quality)))},
        latency_samples=latency,
        quality_samples={"score": quality},
        cases=CASE_IDS,
        latency_case=case,
        quality_case={"score": case},
    )


Outcome = tuple[tuple[int, int, int], bool, bool]


def trial(args: tuple[Cell, int]) -> Outcome:
    """One simulated run: the watched checks' verdict counts (regression, inconclusive,
    pass), whether any regression was false, and whether the naive rule alarmed."""
    cell, seed = args
    rng = np.random.default_rng(seed)
    current, baseline = [], []
    for i in range(SERIES):
        case_ms = 200 * rng.lognormal(0, np.sqrt(cell.sigma**2 - LATENCY_WITHIN**2), CASES)
        case_q = 0.75 + rng.normal(0, np.sqrt(QUALITY_SD**2 - QUALITY_WITHIN**2), CASES)
        changed = cell.changed and (cell.everywhere or i == 0)
        current.append(series(rng, f"s{i}", cell, case_ms, case_q, changed))
        baseline.append(series(rng, f"s{i}", cell, case_ms, case_q, False))
    # as the plugin judges: stored series, with the test cases that ran (coverage joins)
    ran = RanTests(frozenset(CASE_IDS), frozenset(CASE_IDS))
    checks = compare(as_stored(current), as_stored(baseline), intervals=False, tests=ran).checks
    watched = [c for c in checks if _watched(cell, c.series.name, c.metric)]
    counts = tuple(sum(c.verdict == word for c in watched) for word in WORDS)
    # false: a regression on a series nothing changed, or anywhere when the change is
    # within tolerance (a detection cell's other metrics of s0 did change: p99 with p95)
    moved = {f"s{i}" for i in range(SERIES) if cell.everywhere or i == 0} if cell.changed else set()
    false = any(
        c.verdict == "regression" and not (cell.detect and c.series.name in moved) for c in checks
    )
    return (counts[0], counts[1], counts[2]), false, naive(current, baseline, cell)


def _watched(cell: Cell, series: str, metric: str) -> bool:
    if not (cell.everywhere or series == "s0"):
        return False
    return cell.metric == "*" or fnmatch.fnmatchcase(metric, cell.metric)


def naive(current: Sequence[SeriesStats], baseline: Sequence[SeriesStats], cell: Cell) -> bool:
    """The point-estimate rule: alarm when the estimate passes the tolerance, no statistics."""
    metric = cell.metric if cell.metric in NAIVE else "latency.p95"
    targets = [0] if cell.changed and not cell.everywhere else range(SERIES)
    for i in targets:
        cur, base = current[i], baseline[i]
        if metric.startswith("latency"):
            pct = metric.split(".")[1]
            if getattr(cur.latency, pct) / getattr(base.latency, pct) - 1 > NAIVE[metric]:
                return True
        elif metric == "error_rate":
            if cur.error_rate - base.error_rate > NAIVE[metric]:
                return True
        elif cur.quality["score"].mean - base.quality["score"].mean < NAIVE[metric]:
            return True
    return False


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    start = time.perf_counter()
    rows = []
    with Pool(2) as pool:
        for number, cell in enumerate(CELLS):
            seeds = [(cell, number * 1_000_003 + t) for t in range(trials)]
            results = pool.map(trial, seeds, chunksize=25)
            totals = np.sum([r[0] for r in results], axis=0)
            shares = totals / max(int(totals.sum()), 1)
            falses = sum(r[1] for r in results) / trials
            naives = sum(r[2] for r in results) / trials
            rows.append((cell, shares, falses, naives))
    print(f"{trials} simulated runs per cell, {SERIES} series x 5 metrics each\n")
    print(
        "| cell | watched | regression | inconclusive | pass | runs with a false regression "
        "| naive rule |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for cell, shares, falses, naives in rows:
        watched = "every check" if cell.metric == "*" else (
            f"{cell.metric}, every series" if cell.everywhere else cell.metric
        )  # fmt: skip
        naive_what = "detection" if cell.detect else "false alarm"
        cells = " | ".join(f"{share:.1%}" for share in shares)
        print(f"| {cell.name} | {watched} | {cells} | {falses:.1%} | {naives:.1%} ({naive_what}) |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
