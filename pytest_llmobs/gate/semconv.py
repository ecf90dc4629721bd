"""One name per GenAI attribute, whatever convention or version the instrumentation follows.

Instrumentations rename attributes between versions (`gen_ai.system` became
`gen_ai.provider.name`, `gen_ai.usage.prompt_tokens` became `gen_ai.usage.input_tokens`)
and OpenInference has names of its own. The plugin speaks the current OpenTelemetry
GenAI names and reads any alias in their place; users can add aliases of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

# canonical name -> the other names it goes by, most likely first
ALIASES: Mapping[str, tuple[str, ...]] = {
    "gen_ai.provider.name": ("gen_ai.system", "llm.provider", "llm.system"),
    "gen_ai.request.model": ("llm.model_name", "llm.request.model"),
    "gen_ai.response.model": ("llm.response.model",),
    "gen_ai.operation.name": ("llm.request.type",),
    "gen_ai.usage.input_tokens": ("gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "gen_ai.usage.output_tokens": (
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "gen_ai.usage.total_tokens": ("llm.usage.total_tokens", "llm.token_count.total"),
    "gen_ai.response.finish_reasons": ("llm.response.finish_reason",),
    "gen_ai.response.cached": ("llm.response.cached",),
    "error.type": ("exception.type",),
    # what kind of step a span is: LLM, tool, chain... (values differ between conventions)
    "llmobs.span.kind": ("openinference.span.kind", "traceloop.span.kind"),
    # the app's id of a request, set on its root span (or any span of it)
    "request_id": ("llmobs.request_id", "request.id"),
}


REQUEST_ID = "request_id"


CACHE_ATTRIBUTE = "gen_ai.response.cached"  # true on a span answered from a cache

# An evaluation of a span (an LLM judge's score), as a span event or a log record event.
EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE = "gen_ai.evaluation.score.value"

# gated token metrics and the (canonical) attribute each is the per-span mean of
TOKEN_METRICS: Mapping[str, str] = {
    "tokens.input": "gen_ai.usage.input_tokens",
    "tokens.output": "gen_ai.usage.output_tokens",
}
COST_ATTRIBUTE = "llmobs.cost_usd"  # a span's cost, worked out (prices.py); metric `cost`
_TOKEN_ATTRIBUTES = {attribute: metric for metric, attribute in TOKEN_METRICS.items()}
_TOKEN_ATTRIBUTES[COST_ATTRIBUTE] = "cost"


def metric_of(attribute: str) -> str:
    """The gated metric of a numeric attribute: `tokens.*` for token counts, `cost` for
    the worked-out cost, else `quality.<attribute>`."""
    return _TOKEN_ATTRIBUTES.get(attribute, f"quality.{attribute}")


def attribute_of(metric: str) -> str:
    """The attribute a `tokens.*`, `cost` or `quality.*` metric is the mean of."""
    if metric in TOKEN_METRICS:
        return TOKEN_METRICS[metric]
    if metric == "cost":
        return COST_ATTRIBUTE
    return metric.partition(".")[2]


class AliasError(ValueError):
    """Configured aliases do not make sense; the message says which."""


def alias_map(extra: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The built-in aliases, with a user's added in front of each name's own.

    Raises:
        AliasError: an alias is also a canonical name, or belongs to two names.
    """
    merged = {name: tuple(aliases) for name, aliases in ALIASES.items()}
    for name, aliases in (extra or {}).items():
        merged[name] = tuple(dict.fromkeys((*aliases, *merged.get(name, ()))))
    owner: dict[str, str] = {}
    for name, aliases in merged.items():
        for alias in aliases:
            if alias in merged:
                raise AliasError(f"{alias!r} is a name of its own, it cannot also alias {name!r}")
            if owner.setdefault(alias, name) != name:
                raise AliasError(f"{alias!r} cannot alias both {owner[alias]!r} and {name!r}")
    return merged


def names_for(name: str, aliases: Mapping[str, Sequence[str]] = ALIASES) -> tuple[str, ...]:
    """Every name an attribute may be found under: the name itself first, then its aliases.

    An alias given as `name` stands for its canonical attribute and all its other names.
    """
    for canonical, others in aliases.items():
        if name == canonical or name in others:
            return (canonical, *others)
    return (name,)


def all_names(names: Iterable[str], aliases: Mapping[str, Sequence[str]] = ALIASES) -> set[str]:
    """The union of `names_for` over names: what a capture must keep to find them."""
    return {found for name in names for found in names_for(name, aliases)}


def canonical(name: str, aliases: Mapping[str, Sequence[str]] = ALIASES) -> str:
    """The canonical name of an attribute name (itself when it has none)."""
    return names_for(name, aliases)[0]


def normalize(
    attributes: Mapping[str, object], aliases: Mapping[str, Sequence[str]] = ALIASES
) -> dict[str, object]:
    """Attributes under their canonical names; where several names of one attribute are
    present, the canonical one wins, then the aliases in order."""
    result: dict[str, object] = {}
    rank: dict[str, int] = {}
    for key, value in attributes.items():
        names = names_for(key, aliases)
        name, position = names[0], names.index(key)
        if position < rank.get(name, len(names) + 1):
            result[name], rank[name] = value, position
    return result
