"""The URLs of the live stack as messages may show them, and where OTLP spans are posted."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

TRACES_PATH = "/v1/traces"


def masked(url: str) -> str:
    """The URL with any user and password in it replaced by `***`.

    The host is what follows the netloc's last `@`, so a password that holds an `@`
    never shows in part. A query string is left as it is. An address without a scheme
    (`user:pass@host:9091`, as a Pushgateway's may be given) is masked alike.

    Args:
        url: a URL, as the user gave it (`http://user:pass@host:4318/v1/traces`).

    Returns:
        The URL as a message may show it (`http://***@host:4318/v1/traces`).
    """
    url = url.strip()
    schemeless = "://" not in url  # urlsplit would read `user:` as a scheme
    try:
        parts = urlsplit("//" + url if schemeless else url)
    except ValueError:  # not a URL (`http://[::1`): its credentials, if any, go all the same
        scheme, sep, rest = url.partition("://")
        if schemeless:
            scheme, sep, rest = "", "", url
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else url
    if "@" not in parts.netloc:
        return url
    shown = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    return shown.removeprefix("//") if schemeless else shown


def traces_endpoint(url: str) -> str:
    """Where spans are posted: the URL as given when its path ends in /v1/traces, else
    the URL with /v1/traces appended to its path (as OTEL_EXPORTER_OTLP_ENDPOINT is read).

    Args:
        url: an OTLP/HTTP base URL (`http://host:4318`) or its /v1/traces URL.

    Returns:
        The URL to post to; a query string stays after the path
        (`http://host:4318?x=1` -> `http://host:4318/v1/traces?x=1`).
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith(TRACES_PATH):
        return url
    return urlunsplit(parts._replace(path=path + TRACES_PATH))
