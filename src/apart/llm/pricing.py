"""What a call costs: a shipped price table the user can override.

Prices are US dollars per million tokens, input and output, as the vendors list
them. A model matches its exact name, else the longest listed prefix (so
``gpt-4o-2024-08-06`` is priced as ``gpt-4o``). Local models (``ollama``,
``scripted``) cost nothing; an unknown model is priced at 0 and reported as
unpriced. Override or extend the table with a JSON or YAML file named by
``APART_PRICES_FILE``: ``{provider: {model: {input: 2.5, output: 10}}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apart.errors import ConfigError

#: USD per million tokens (input, output): list prices at the time of writing
SHIPPED: dict[str, dict[str, tuple[float, float]]] = {
    "openai": {
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "o3-mini": (1.10, 4.40),
        "o4-mini": (1.10, 4.40),
        "o3": (2.00, 8.00),
    },
    "anthropic": {
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-3-5-sonnet": (3.00, 15.00),
        "claude-3-7-sonnet": (3.00, 15.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-opus-4": (15.00, 75.00),
        "claude-haiku-4": (1.00, 5.00),
    },
    "gemini": {
        "gemini-1.5-flash": (0.075, 0.30),
        "gemini-1.5-pro": (1.25, 5.00),
        "gemini-2.0-flash": (0.10, 0.40),
        "gemini-2.5-flash": (0.30, 2.50),
        "gemini-2.5-pro": (1.25, 10.00),
    },
    "grok": {
        "grok-2": (2.00, 10.00),
        "grok-3": (3.00, 15.00),
        "grok-3-mini": (0.30, 0.50),
    },
}
FREE_PROVIDERS = frozenset({"scripted", "ollama", "replay"})


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


FREE = Price(0.0, 0.0)


@dataclass(frozen=True)
class Pricing:
    table: dict[str, dict[str, Price]]

    @classmethod
    def shipped(cls) -> Pricing:
        return cls({p: {m: Price(*v) for m, v in models.items()} for p, models in SHIPPED.items()})

    @classmethod
    def load(cls, override: Path | None) -> Pricing:
        """The shipped table, overlaid by the user's file when one is named."""
        pricing = cls.shipped()
        return pricing if override is None else pricing.overlaid(_read_prices(override))

    def overlaid(self, extra: dict[str, dict[str, Price]]) -> Pricing:
        table = {p: dict(models) for p, models in self.table.items()}
        for provider, models in extra.items():
            table.setdefault(provider, {}).update(models)
        return Pricing(table)

    def price(self, provider: str, model: str) -> Price | None:
        """None when the model is not in the table (then it costs 0, unpriced)."""
        if provider in FREE_PROVIDERS:
            return FREE
        models = self.table.get(provider, {})
        if model in models:
            return models[model]
        prefixes = [m for m in models if model.startswith(m)]
        return models[max(prefixes, key=len)] if prefixes else None

    def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.price(provider, model)
        return 0.0 if price is None else price.cost(input_tokens, output_tokens)


def _read_prices(path: Path) -> dict[str, dict[str, Price]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the prices file {path} (APART_PRICES_FILE): "
                          f"{exc.strerror or exc}") from exc
    data = _parse(text, path)
    try:
        return {
            str(provider): {str(model): Price(float(p["input"]), float(p["output"]))
                            for model, p in models.items()}
            for provider, models in data.items()
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the prices file {path} must map provider -> model -> "
            "{input: USD per million tokens, output: USD per million tokens}"
        ) from exc


def _parse(text: str, path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"the prices file {path} is not valid JSON/YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the prices file {path} must be a mapping of providers")
    return data
