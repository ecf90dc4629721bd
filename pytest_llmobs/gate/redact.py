"""What of a span's string attributes a report may show: an allow-list, then masking patterns.

Reports that show request detail (the slowest or lowest-scored requests) pass every
attribute through a Redactor. A string attribute is shown only when its name is allowed
(model names, finish reasons, ids: never prompts or outputs by default), and even then
anything a pattern matches (API keys, bearer tokens, e-mail addresses by default) is
masked. Other strings show only their length, so a report still says "a 5,000-character
prompt" without holding it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_llmobs.gate.semconv import ALIASES, names_for

if TYPE_CHECKING:  # model imports numpy, which a run without --llmobs must not load
    from pytest_llmobs.gate.model import AttrValue

MASK = "[redacted]"
SHOWN_CHARS = 300  # of an allowed string; the rest is cut, so masking stays cheap

# Attributes whose strings describe the request, not its content.
DEFAULT_ALLOW = (
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.operation.name",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.output.type",
    "gen_ai.tool.name",
    "llmobs.span.kind",
    "error.type",
    "request_id",
    "server.address",
    "http.response.status_code",
)

DEFAULT_PATTERNS = (
    # e-mail address: RFC 5322's characters before the @, a dotted domain after it
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*",
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}",  # OpenAI, Anthropic and similar secret keys
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub token
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack token
    r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
    r"\b(?i:bearer)\s+[A-Za-z0-9._~+/-]+=*",  # an Authorization header's token
    r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",  # a JSON web token
    # any other long run of letters and digits mixed, as keys and hashes are
    # (not across hyphens, which long deployment and model names hold)
    r"\b(?=[A-Za-z0-9_]*[0-9])(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{32,}",
)


class RedactError(ValueError):
    """A configured pattern is not a regular expression; the message quotes it."""


@dataclass(frozen=True)
class Redactor:
    """Turns attribute values into what a report may show."""

    allow: tuple[str, ...] = DEFAULT_ALLOW  # attribute names or globs (`app.*`)
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(ALIASES))
    _masks: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        masks = []
        for pattern in self.patterns:
            try:
                masks.append(re.compile(pattern))
            except re.error as exc:
                raise RedactError(f"{pattern!r} is not a regular expression: {exc}") from None
        object.__setattr__(self, "_masks", tuple(masks))
        names = {n for a in self.allow for n in names_for(a, self.aliases)}
        object.__setattr__(self, "_allowed", frozenset(names))

    def shows(self, name: str) -> bool:
        """Whether the strings of this attribute may appear in a report (masked)."""
        return name in self._allowed or any(fnmatch.fnmatchcase(name, a) for a in self.allow)

    def text(self, value: str) -> str:
        """A string with everything the patterns match masked, cut to SHOWN_CHARS."""
        shown = value[: 2 * SHOWN_CHARS]  # masked before the cut: no key is half shown
        for mask in self._masks:
            shown = mask.sub(MASK, shown)
        if len(value) > SHOWN_CHARS or len(shown) > SHOWN_CHARS:
            shown = f"{shown[:SHOWN_CHARS]}... [{len(value)} characters]"
        return shown

    def value(self, name: str, value: AttrValue) -> AttrValue:
        """What a report shows of one attribute's value."""
        if isinstance(value, str):
            return self.text(value) if self.shows(name) else _withheld(len(value))
        if isinstance(value, tuple) and any(isinstance(v, str) for v in value):
            if not self.shows(name):
                return _withheld(sum(len(v) for v in value if isinstance(v, str)))
            return tuple(self.text(v) if isinstance(v, str) else v for v in value)
        return value

    def attributes(self, attributes: Mapping[str, AttrValue]) -> dict[str, AttrValue]:
        """Every attribute of a span as a report may show it; keys keep their order."""
        return {name: self.value(name, v) for name, v in attributes.items()}


def _withheld(chars: int) -> str:
    return f"[{chars} characters withheld]"


def redactor(
    allow: Iterable[str] = (),
    patterns: Iterable[str] = (),
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> Redactor:
    """The default redactor extended by configured attribute names and patterns."""
    return Redactor(
        allow=(*DEFAULT_ALLOW, *allow),
        patterns=(*DEFAULT_PATTERNS, *patterns),
        aliases=dict(ALIASES) if aliases is None else aliases,
    )
