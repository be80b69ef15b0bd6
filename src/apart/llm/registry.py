"""Which provider plays a role: a scenario's :class:`LLMConfig` -> a :class:`Provider`.

Only the offline ``scripted`` provider ships in this version; naming a real
vendor gives a :class:`~apart.errors.ConfigError` that says how to run offline.
Nothing is cached: every call builds a fresh (cheap, stateless) provider.
"""

from __future__ import annotations

from typing import get_args

from apart.errors import ConfigError
from apart.llm.base import Provider
from apart.llm.scripted import ScriptedProvider
from apart.scenario.schema import LLMConfig, ProviderName


def provider_names() -> list[str]:
    """Every provider name a scenario may use, ``scripted`` first."""
    return list(get_args(ProviderName))


def resolve_provider(
    config: LLMConfig, *, default_latency_ms: int = 0, override: str | None = None
) -> Provider:
    """The provider for ``config``; ``override`` (the CLI's ``--provider``) wins.

    ``latency_ms`` of the config, when set, beats ``default_latency_ms``.
    """
    name = (override or config.provider).strip().lower()
    if name == "scripted":
        latency = config.latency_ms if config.latency_ms is not None else default_latency_ms
        if latency < 0:
            raise ConfigError(f"latency_ms must be 0 or more, got {latency}")
        return ScriptedProvider(latency_ms=latency)
    if name in provider_names():
        raise ConfigError(
            f"provider '{name}' is not available in this version of apart yet; "
            "run offline with `--provider scripted`"
        )
    raise ConfigError(
        f"unknown provider '{name}'; use one of {', '.join(provider_names())} "
        "(offline: `--provider scripted`)"
    )
