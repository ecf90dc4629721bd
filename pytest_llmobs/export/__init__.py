"""The team's live stack: spans out over OTLP, metrics to Prometheus, Grafana and alert rules."""
