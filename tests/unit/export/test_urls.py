"""URLs as messages show them (no user or password) and where OTLP spans are posted."""

from __future__ import annotations

import pytest

from pytest_llmobs.export import otlp_send
from pytest_llmobs.export.urls import masked, traces_endpoint


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://team:pa55@collector:4318/v1/traces", "http://***@collector:4318/v1/traces"),
        ("https://token@collector", "https://***@collector"),
        # a password holding '@' (not %40-encoded, as users paste them): none of it shows
        ("http://team:p@ss@word@collector:4318", "http://***@collector:4318"),
        # a query is left as it is, an '@' in it too
        ("http://u:p@collector/?to=a@b&key=1", "http://***@collector/?to=a@b&key=1"),
        ("http://collector:4318/?to=a@b", "http://collector:4318/?to=a@b"),
        ("http://collector:4318", "http://collector:4318"),
        # an address without a scheme, as a Pushgateway's may be given
        ("user:pa55@gw.example:9091", "***@gw.example:9091"),
        # what is no URL at all loses its credentials all the same
        ("http://u:p@[::1", "http://***@[::1"),
        ("u:p@[::1", "***@[::1"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_a_url_shows_no_user_or_password(url: str, shown: str) -> None:
    assert masked(url) == shown


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://h:4318", "http://h:4318/v1/traces"),
        ("http://h:4318/", "http://h:4318/v1/traces"),
        ("http://h:4318/v1/traces", "http://h:4318/v1/traces"),
        ("http://h:4318/v1/traces/", "http://h:4318/v1/traces/"),
        ("http://h/otlp", "http://h/otlp/v1/traces"),  # behind a proxy's path
        # the path, not the query, gets /v1/traces
        ("http://h:4318?x=1", "http://h:4318/v1/traces?x=1"),
        ("http://h:4318/otlp/?x=1&y=/v1/traces", "http://h:4318/otlp/v1/traces?x=1&y=/v1/traces"),
        ("http://h:4318/v1/traces?x=1", "http://h:4318/v1/traces?x=1"),
    ],
)
def test_spans_are_posted_to_the_v1_traces_path(url: str, endpoint: str) -> None:
    assert traces_endpoint(url) == endpoint


def test_the_sender_s_names_are_the_same_functions() -> None:
    assert (otlp_send.masked, otlp_send.traces_endpoint) == (masked, traces_endpoint)
