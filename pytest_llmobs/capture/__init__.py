"""The OpenTelemetry adapter: the span recorder (the columns it fills, the detail sampling
applied to them, the span table read over them), the providers it is installed on, the
log records that carry evaluations, and the span table's wire format between xdist
workers. The only folder that imports OpenTelemetry; besides, it imports gate/."""
