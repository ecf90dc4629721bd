"""The gate, pure: spans' columns to series (model, grouping, aggregate), the statistics
and rules that judge them against a baseline (stats, measure, compare, verdict, rules,
slos), the baseline file itself, and the gate's decision for a run (judge). Imports
neither pytest nor OpenTelemetry, and no other folder of the package."""
