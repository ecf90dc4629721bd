"""pytest-llmobs: a CI regression gate for LLM systems, fed by OpenTelemetry spans."""

from __future__ import annotations

__version__ = "0.1.0"
