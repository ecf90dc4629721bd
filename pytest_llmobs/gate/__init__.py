"""The gate, pure: spans' columns to series (model, grouping, aggregate), the statistics
and rules that judge them against a baseline (stats, measure, compare, verdict, rules,
slos), the baseline file itself, and the gate's decision for a run (judge). It also holds
the small vocabulary every other part shares: how numbers read (units), alert
severities (severity), what a report may show of an attribute (redact), atomic JSON
writes (jsonfile). Imports neither pytest nor OpenTelemetry, and no other folder."""
