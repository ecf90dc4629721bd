"""The gate, pure: spans' columns to series (model, grouping, aggregate), the statistics
and rules that judge them against a baseline (stats, measure, compare, verdict, rules,
slos), the baseline file itself, and the verdict of a run (judge). Imports neither pytest
nor OpenTelemetry, and no other folder of the package (judge.py's RunResult still imports
analysis/ until it moves to report/: issue 18)."""
