"""Services under test export to the run (--llmobs-otlp): a receiver starts with the
capture, child processes find it through the standard OTEL_* variables, and the run
waits at its end for their last batches."""

from __future__ import annotations

import ipaddress
import os
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings

if TYPE_CHECKING:
    from pytest_llmobs.capture.otlp_logs import Evaluation
    from pytest_llmobs.capture.receiver import Receiver

QUIET_S = 0.5  # no request for this long: the services have sent what they had
SLOT_WAIT_S = 2.0  # at the wait's end, for a request under way to finish
BATCH_DELAY_MS = "200"  # children's batch export delay (the SDK's defaults: 5000, 1000)
# the batch span and log record processors' delays, and the SDK's default for each
SCHEDULE_DELAYS = {"OTEL_BSP_SCHEDULE_DELAY": 5000, "OTEL_BLRP_SCHEDULE_DELAY": 1000}
# what the user may have set that makes services export elsewhere (the per-signal ones
# win over OTEL_EXPORTER_OTLP_ENDPOINT), or otherwise than the receiver reads
SENDS_ELSEWHERE = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
PER_SIGNAL = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
)
LOST = "the series they belong to cannot be judged"
# what a refused export of each path held ("": a request the receiver failed on)
HELD = {"/v1/traces": "spans", "/v1/logs": "evaluation results", "": "spans or evaluations"}


class Intake:
    """The receiver of one pytest process, and the environment it set for children."""

    def __init__(self, recorder: SpanRecorder, settings: Settings) -> None:
        self.recorder = recorder
        self.settings = settings
        self.receiver: Receiver | None = None
        self.notes: list[str] = []
        self._set: list[str] = []  # variables this run set, to unset at its end
        self.unfinished: int | None = None  # exports under way when the last wait ended
        self._waited_to = -1.0  # when a request last came, as the last wait ended

    def start(self) -> None:
        """Listen, and point child processes at the receiver unless the user pointed them."""
        from pytest_llmobs.capture.receiver import Receiver

        host, port = self.settings.otlp_endpoint
        try:
            # of the resource, what an in-process span would be grouped by: service.name
            # when group_by names it
            self.receiver = Receiver(
                self.recorder.receive, host, port, resource_keys=self.recorder.named,
                evaluations=self._evaluations,
            )  # fmt: skip
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
        self._point_children(_reachable(self.receiver.endpoint))
        self._note_slow_batches()

    def _point_children(self, endpoint: str) -> None:
        wanted = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{endpoint}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            **dict.fromkeys(SCHEDULE_DELAYS, BATCH_DELAY_MS),
        }
        for name, value in wanted.items():
            if name not in os.environ:
                os.environ[name] = value
                self._set.append(name)
        kept = [
            name
            for name in (*wanted, *PER_SIGNAL)
            if os.environ.get(name) and name not in self._set
        ]
        self._note_kept(kept, endpoint)

    def _note_kept(self, kept: list[str], endpoint: str) -> None:
        """Say which variables the user set were left, and what that means."""
        if elsewhere := [name for name in kept if name in SENDS_ELSEWHERE]:
            self.notes.append(
                f"--llmobs-otlp left {', '.join(elsewhere)} as set in the environment: "
                f"services that export elsewhere than http://{endpoint} are not gated"
            )
        grpc = [n for n in kept if n.endswith("PROTOCOL") and _grpc(os.environ[n])]
        if grpc:
            self.notes.append(
                f"--llmobs-otlp left {'=grpc, '.join(grpc)}=grpc as set in the environment: "
                "the receiver takes OTLP/HTTP only, so gRPC exports are not received"
            )
        if other := [name for name in kept if name not in (*SENDS_ELSEWHERE, *grpc)]:
            self.notes.append(f"--llmobs-otlp left {', '.join(other)} as set in the environment")

    def _note_slow_batches(self) -> None:
        """Say so when a schedule delay the user set outlasts the wait at the run's end."""
        delay, wait = schedule_delay_s(), self.settings.otlp_wait
        theirs = [name for name in SCHEDULE_DELAYS if name not in self._set]
        if delay + QUIET_S <= wait or not theirs:
            return
        self.notes.append(
            f"--llmobs-otlp: services batch their exports for up to {delay:g} s "
            f"({', '.join(theirs)}), longer than the run waits for them at its end "
            f"(--llmobs-otlp-wait={wait:g}): spans they end last may not be counted"
        )

    def _evaluations(self, records: list[Evaluation]) -> None:
        for trace_id, span_id, attributes in records:
            self.recorder.add_evaluation_record(trace_id, span_id, attributes, received=True)

    def settle(self, batches: bool = True) -> None:
        """Wait, at most otlp_wait seconds from now (the last test's teardown, or the
        test loop's end), for the services' last exports.

        A service's batch processor sends what ended before now within its schedule
        delay, so the wait lasts until that delay (the longest of the batch span and
        log record processors', as this run or the user set it) and QUIET_S more have
        passed, no request has arrived for QUIET_S, none is being received, and none
        refused as busy (503) waits for its retry. Services that flushed as their tests
        ended cost 0.7 s of it (the 200 ms delay this run sets, then quiet). Without
        `batches` there is no wait when no request came since the last one (the
        services were waited for before the teardown that stopped them). At the
        deadline, a request being received is given SLOT_WAIT_S more to end (a chatty
        service is never quiet, but each request is short); what is then still under
        way, or still to be retried, is what errors() says was lost.
        """
        receiver = self.receiver
        if receiver is None:
            return
        if not batches and receiver.last_request == self._waited_to:
            self.unfinished = receiver.arriving  # nothing since the last wait: done
            return
        now = time.monotonic()
        deadline = now + self.settings.otlp_wait
        due = now + schedule_delay_s() + QUIET_S
        while now < deadline:
            quiet = now - receiver.last_request >= QUIET_S and not receiver.arriving
            if now >= due and quiet and not receiver.unretried:
                break
            time.sleep(0.05)
            now = time.monotonic()
        end = time.monotonic() + SLOT_WAIT_S
        while receiver.arriving and time.monotonic() < end:
            time.sleep(0.01)
        self.unfinished, self._waited_to = receiver.arriving, receiver.last_request

    def stop(self) -> None:
        """Stop listening and take back the environment this run set."""
        for name in self._set:
            os.environ.pop(name, None)
        self._set.clear()
        if self.receiver is not None:
            self.receiver.stop()

    def heard(self) -> dict[str, object]:
        """Where it listened, and how many requests reached it (answered or not)."""
        receiver = self.receiver
        if receiver is None:
            return {"endpoint": "", "requests": 0}
        count = receiver.requests + sum(receiver.refused.values()) + receiver.arriving
        return {"endpoint": receiver.endpoint, "requests": count}

    def errors(self) -> list[str]:
        """What the receiver lost, for the run's errors: each fails the gate closed.

        An export of spans or evaluation results refused for good (400, 408, 411, 413,
        415, or 500: the receiver's own failure; exporters retry none of them) or still
        arriving when the run was judged held data the run never saw, and the series it
        belongs to would be judged on the rest. One sentence per reason; what loses
        nothing (404, 405: another path or method) or is retried (503) is a warning.
        """
        receiver = self.receiver
        if receiver is None:
            return []
        found = [
            f"OTLP receiver: {n} {'export(s) refused' if path else 'request(s) failed'} "
            f"({reason}): their {HELD[path]} are missing, {LOST}"
            for (path, reason), n in sorted(receiver.lost.items())
        ]
        wait = f"--llmobs-otlp-wait={self.settings.otlp_wait:g}"
        if unfinished := self.unfinished if self.unfinished is not None else receiver.arriving:
            found.append(
                f"OTLP receiver: {unfinished} export(s) still arriving when the run was "
                f"judged, after {wait}: their {HELD['']} are missing, {LOST}"
            )
        if receiver.unretried:
            found.append(
                f"OTLP receiver: {receiver.unretried} export(s) refused as busy (503) and "
                f"not sent again before the run was judged, after {wait}: their "
                f"{HELD['']} are missing, {LOST}"
            )
        return found

    def warnings(self) -> list[str]:
        """What the receiver refused or could not keep but errors() does not tell (the
        refusals that lose nothing, or are retried; spans, records and values of accepted
        requests not kept whole), and what about the environment deserves a word."""
        receiver, found = self.receiver, list(self.notes)
        if receiver is None:
            return found
        lost: Counter[str] = Counter()
        for (_, reason), n in receiver.lost.items():
            lost[reason] += n
        for reason, n in sorted((receiver.refused - lost).items()):
            found.append(f"OTLP receiver: {n} request(s) refused ({reason})")
        for reason, n in sorted(receiver.rejected.items()):
            found.append(f"OTLP receiver: {n} span(s) not kept: {reason}")
        for reason, n in sorted(receiver.rejected_records.items()):
            found.append(f"OTLP receiver: {n} log record(s) not kept: {reason}")
        found += [f"OTLP receiver: {n} {reason}" for reason, n in sorted(receiver.cut.items())]
        return found


def silence(heard: list[dict[str, object]]) -> list[str]:
    """One warning when no receiver of the run (this process's, or each worker's) heard
    from any service: a worker whose tests start none hears nothing, and says nothing."""
    if not heard or any(h["requests"] for h in heard):
        return []
    where = ", ".join(str(h["endpoint"]) for h in heard)
    return [
        f"--llmobs-otlp received no span on {where}: no service exported there (one that "
        "sets its own endpoint, or is killed before its batch is sent, does not)"
    ]


def schedule_delay_s() -> float:
    """The longest batch schedule delay that services started now read from the
    environment, in seconds: a value the SDK cannot read is its default."""
    delays = []
    for name, default in SCHEDULE_DELAYS.items():
        try:
            delays.append(int(os.environ.get(name, "")))
        except ValueError:
            delays.append(default)
    return max(delays) / 1000


def _reachable(endpoint: str) -> str:
    """Where children connect to a receiver on host:port: a receiver listening on every
    address (0.0.0.0, ::) is reached on loopback (not every system connects to those)."""
    host, _, port = endpoint.rpartition(":")
    return {"0.0.0.0": f"127.0.0.1:{port}", "[::]": f"[::1]:{port}"}.get(host, endpoint)


def _grpc(protocol: str) -> bool:
    return protocol.strip().lower() == "grpc"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False
