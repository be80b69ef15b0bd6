"""Calls are priced from the shipped table, which a user file can override."""

from __future__ import annotations

from pathlib import Path

import pytest

from apart.errors import ConfigError
from apart.llm.pricing import Pricing


def test_a_dated_model_is_priced_as_its_family() -> None:
    pricing = Pricing.shipped()
    assert pricing.cost("openai", "gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert pricing.cost("openai", "gpt-4o-mini", 0, 1_000_000) == pytest.approx(0.6)


def test_local_and_unknown_models_cost_nothing() -> None:
    pricing = Pricing.shipped()
    assert pricing.cost("ollama", "llama3", 10**6, 10**6) == 0.0
    assert pricing.cost("scripted", "scripted-v1", 10**6, 10**6) == 0.0
    assert pricing.price("openai", "my-finetune") is None


def test_a_prices_file_overrides_and_extends_the_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("openai:\n  gpt-4o: {input: 1, output: 2}\n"
                    "vllm:\n  llama-3-70b: {input: 0.5, output: 0.5}\n")
    pricing = Pricing.load(path)
    assert pricing.cost("openai", "gpt-4o", 10**6, 10**6) == pytest.approx(3.0)
    assert pricing.cost("vllm", "llama-3-70b", 10**6, 0) == pytest.approx(0.5)
    assert pricing.cost("anthropic", "claude-opus-4", 10**6, 0) == pytest.approx(15.0)


def test_a_broken_prices_file_names_the_file_and_the_shape(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"openai": {"gpt-4o": {"in": 1}}}')
    with pytest.raises(ConfigError, match=r"prices.json must map provider"):
        Pricing.load(path)
