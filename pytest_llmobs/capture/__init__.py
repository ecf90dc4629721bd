"""The OpenTelemetry adapter: the span recorder, the providers it is installed on, the
log records that carry evaluations, and the span table's wire format between xdist
workers. The only folder that imports OpenTelemetry; besides, it imports gate/."""
