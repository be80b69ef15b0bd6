"""Which provider plays a role: a scenario's :class:`LLMConfig` -> a :class:`Provider`.

``scripted`` is built in. The real vendors (``openai``, ``grok``, ``anthropic``,
``gemini``, ``ollama``; see :mod:`apart.llm.vendors`) need their SDK (an extra)
and, except Ollama and local servers, a key. Resolution checks both and raises
:class:`~apart.errors.ConfigError` with the fix — it runs when a run is
submitted, so the problem is reported before the run exists, never mid-run.
Resolution imports the SDK but does no network I/O: the SDK client is built on
the first call.

Providers resolved with the same :class:`ProviderPool` share its concurrency
limits; the caller (a worker process, the API server) keeps one pool for its
lifetime. Without one, each provider gets a private pool.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import get_args

from apart.errors import ConfigError
from apart.llm.base import Provider
from apart.llm.limits import ProviderPool
from apart.llm.retry import RetryPolicy
from apart.llm.scripted import ScriptedProvider
from apart.llm.vendors import OFFLINE, VENDORS, Vendor, endpoint_for
from apart.scenario.schema import LLMConfig, ProviderName


def provider_names() -> list[str]:
    """Every provider name a scenario may use, ``scripted`` first."""
    return list(get_args(ProviderName))


def resolve_provider(
    config: LLMConfig,
    *,
    default_latency_ms: int = 0,
    override: str | None = None,
    environ: Mapping[str, str] | None = None,
    pool: ProviderPool | None = None,
    retry: RetryPolicy | None = None,
) -> Provider:
    """The provider for ``config``; ``override`` (the CLI's ``--provider``) wins.

    ``latency_ms`` of the config, when set, beats ``default_latency_ms`` (scripted).
    ``environ`` (default ``os.environ``) holds the keys and ``APART_*`` settings;
    ``retry`` (default: :meth:`RetryPolicy.from_env`) tunes the retries.
    """
    name = (override or config.provider).strip().lower()
    if name == "scripted":
        latency = config.latency_ms if config.latency_ms is not None else default_latency_ms
        if latency < 0:
            raise ConfigError(f"latency_ms must be 0 or more, got {latency}")
        return ScriptedProvider(latency_ms=latency)
    vendor = VENDORS.get(name)
    if vendor is None:
        raise ConfigError(
            f"unknown provider '{name}'; use one of {', '.join(provider_names())} "
            "(offline: `--provider scripted`)"
        )
    env = os.environ if environ is None else environ
    adapter = _adapter_class(vendor)
    endpoint = endpoint_for(vendor, config, env)
    if pool is None:
        pool = ProviderPool(environ=env)
    try:
        pool.limit(vendor.name, endpoint.base_url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    provider: Provider = adapter(endpoint, pool=pool,
                                 policy=retry or RetryPolicy.from_env(env))
    return provider


def _adapter_class(vendor: Vendor) -> type:
    """The adapter class; importing its module imports the vendor's SDK."""
    try:
        module = importlib.import_module(vendor.module)
    except ImportError as exc:
        raise ConfigError(
            f"provider '{vendor.name}' needs the {vendor.sdk} SDK: {vendor.install_hint}, "
            f"or {OFFLINE} ({exc})"
        ) from exc
    adapter: type = getattr(module, vendor.adapter)
    return adapter
