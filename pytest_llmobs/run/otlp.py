"""Services under test export to the run (--llmobs-otlp): a receiver starts with the
capture, child processes find it through the standard OTEL_* variables, and the run
waits at its end for their last batches."""

from __future__ import annotations

import ipaddress
import os
import time
from typing import TYPE_CHECKING

import pytest

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings

if TYPE_CHECKING:
    from pytest_llmobs.capture.receiver import Receiver

QUIET_S = 0.5  # no request for this long: the services have sent what they had
BATCH_DELAY_MS = "200"  # children's batch export delay (the SDK's default: 5000)
# what the user may have set that makes services export elsewhere (the per-signal ones
# win over OTEL_EXPORTER_OTLP_ENDPOINT), or otherwise than the receiver reads
SENDS_ELSEWHERE = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACES_ONLY = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


class Intake:
    """The receiver of one pytest process, and the environment it set for children."""

    def __init__(self, recorder: SpanRecorder, settings: Settings) -> None:
        self.recorder = recorder
        self.settings = settings
        self.receiver: Receiver | None = None
        self.notes: list[str] = []
        self._set: list[str] = []  # variables this run set, to unset at its end

    def start(self) -> None:
        """Listen, and point child processes at the receiver unless the user pointed them."""
        from pytest_llmobs.capture.receiver import Receiver

        host, port = self.settings.otlp_endpoint
        try:
            # of the resource, what an in-process span would be grouped by: service.name
            # when group_by names it
            self.receiver = Receiver(
                self.recorder.receive, host, port, resource_keys=self.recorder.named
            )
        except ImportError as exc:  # opentelemetry-proto
            raise pytest.UsageError(
                f"llmobs: --llmobs-otlp needs the otlp extra ({exc.name} is missing): "
                "pip install 'pytest-llmobs[otlp]'"
            ) from None
        except OSError as exc:
            raise pytest.UsageError(
                f"llmobs: --llmobs-otlp-endpoint={host}:{port}: cannot listen there: {exc}"
            ) from None
        self.receiver.start()
        if not _loopback(host):
            self.notes.append(
                f"the OTLP receiver listens on {self.receiver.endpoint}: anyone who can "
                "reach it can add spans to this run"
            )
        self._point_children(self.receiver.endpoint)

    def _point_children(self, endpoint: str) -> None:
        wanted = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{endpoint}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": BATCH_DELAY_MS,
        }
        for name, value in wanted.items():
            if name not in os.environ:
                os.environ[name] = value
                self._set.append(name)
        kept = [
            name
            for name in (*wanted, *TRACES_ONLY)
            if os.environ.get(name) and name not in self._set
        ]
        elsewhere = [name for name in kept if name in SENDS_ELSEWHERE]
        if elsewhere:
            self.notes.append(
                f"--llmobs-otlp left {', '.join(elsewhere)} as set in the environment: "
                f"services that export elsewhere than http://{endpoint} are not gated"
            )
        if other := [name for name in kept if name not in SENDS_ELSEWHERE]:
            self.notes.append(f"--llmobs-otlp left {', '.join(other)} as set in the environment")

    def settle(self) -> None:
        """Wait, at most otlp_wait seconds, until no export has arrived for QUIET_S."""
        if self.receiver is None:
            return
        deadline = time.monotonic() + self.settings.otlp_wait
        while time.monotonic() < deadline:
            if time.monotonic() - self.receiver.last_request >= QUIET_S:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop listening and take back the environment this run set."""
        for name in self._set:
            os.environ.pop(name, None)
        self._set.clear()
        if self.receiver is not None:
            self.receiver.stop()

    def warnings(self) -> list[str]:
        """What the receiver refused or could not keep, for the run's warnings."""
        receiver, found = self.receiver, list(self.notes)
        if receiver is None:
            return found
        if receiver.requests == 0:
            found.append(
                f"--llmobs-otlp received no span on {receiver.endpoint}: no service exported "
                "there (one that sets its own endpoint, or is killed before its batch is "
                "sent, does not)"
            )
        for reason, n in sorted(receiver.refused.items()):
            found.append(f"OTLP receiver: {n} request(s) refused ({reason})")
        for reason, n in sorted(receiver.rejected.items()):
            found.append(f"OTLP receiver: {n} span(s) not kept: {reason}")
        return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False
