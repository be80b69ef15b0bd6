"""Resolving a scenario's provider: a missing SDK, key or usable base URL is a
ConfigError with the fix, raised when the run is submitted; nothing touches the
network."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from apart.errors import ConfigError
from apart.llm.adapter import SdkProvider
from apart.llm.registry import provider_names, resolve_provider
from apart.llm.scripted import ScriptedProvider
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore
from apart.scenario.schema import LLMConfig
from tests.helpers import submit

KEYED = {"openai": "OPENAI_API_KEY", "grok": "XAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
         "gemini": "GEMINI_API_KEY"}


def _resolve(provider: str, environ: dict[str, str] | None = None, **config: Any) -> Any:
    config.setdefault("model", "some-model")
    return resolve_provider(LLMConfig(provider=provider, **config),  # type: ignore[arg-type]
                            environ=environ or {})


def test_every_vendor_is_a_provider_name_and_scripted_comes_first() -> None:
    assert provider_names() == ["scripted", "openai", "anthropic", "gemini", "grok", "ollama"]


@pytest.mark.parametrize("vendor", sorted(KEYED))
def test_a_missing_key_is_a_config_error_naming_the_variable(vendor: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _resolve(vendor)
    assert f"provider '{vendor}' needs {KEYED[vendor]}" in caught.value.message
    assert "base_url" in caught.value.message


def test_the_openai_key_error_says_a_local_server_needs_none() -> None:
    with pytest.raises(ConfigError, match=r"provider 'openai' needs OPENAI_API_KEY \(or set "
                                          r"base_url to a local OpenAI-compatible server\)"):
        _resolve("openai")


def test_gemini_takes_its_key_from_gemini_api_key_or_google_api_key() -> None:
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        _resolve("gemini")
    provider = _resolve("gemini", {"GOOGLE_API_KEY": "g-key"})
    assert provider.endpoint.api_key == "g-key"
    provider = _resolve("gemini", {"GOOGLE_API_KEY": "g-key", "GEMINI_API_KEY": "gm-key"})
    assert provider.endpoint.api_key == "gm-key"


@pytest.mark.parametrize("vendor", sorted(KEYED))
def test_a_local_base_url_needs_no_key(vendor: str) -> None:
    provider = _resolve(vendor, base_url="http://127.0.0.1:9/v1")
    assert isinstance(provider, SdkProvider)
    assert provider.endpoint.api_key  # a placeholder: the SDKs insist on one
    assert provider.endpoint.base_url == "http://127.0.0.1:9/v1"


def test_the_vendor_s_own_url_still_needs_the_key() -> None:
    with pytest.raises(ConfigError, match="XAI_API_KEY"):
        _resolve("grok", base_url="https://api.x.ai/v1")


def test_grok_defaults_to_the_xai_endpoint() -> None:
    provider = _resolve("grok", {"XAI_API_KEY": "xai"})
    assert provider.endpoint.base_url == "https://api.x.ai/v1"
    assert provider.name == "grok"


def test_ollama_needs_no_key_and_takes_its_url_from_the_scenario_or_the_environment() -> None:
    assert _resolve("ollama").endpoint.base_url == "http://127.0.0.1:11434"
    env = {"OLLAMA_BASE_URL": "http://gpu-box:11434/"}
    assert _resolve("ollama", env).endpoint.base_url == "http://gpu-box:11434"
    assert _resolve("ollama", env, base_url="http://other:1").endpoint.base_url == "http://other:1"


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", "http://", "127.0.0.1"])
def test_a_base_url_that_is_not_an_http_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"base_url .* is not an http\(s\) URL"):
        _resolve("openai", base_url=url)


def test_a_bad_ollama_base_url_from_the_environment_is_named() -> None:
    with pytest.raises(ConfigError, match="OLLAMA_BASE_URL"):
        _resolve("ollama", {"OLLAMA_BASE_URL": "gpu-box"})


@pytest.mark.parametrize(("vendor", "module", "extra"), [
    ("openai", "openai", "openai"), ("grok", "openai", "openai"),
    ("anthropic", "anthropic", "anthropic"), ("gemini", "google.genai", "gemini"),
    ("ollama", "ollama", "ollama"),
])
def test_a_missing_sdk_is_a_config_error_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, vendor: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    for name in [n for n in sys.modules if n.startswith("apart.llm.") and n.split(".")[-1]
                 in ("openai_compat", "anthropic_messages", "gemini", "ollama_chat")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ConfigError) as caught:
        _resolve(vendor, {"OPENAI_API_KEY": "k", "XAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k",
                          "GEMINI_API_KEY": "k"})
    assert f"provider '{vendor}' needs the " in caught.value.message
    assert f"pip install 'apart[{extra}]'" in caught.value.message


@pytest.mark.parametrize("model", ["scripted-v1", " "])
def test_a_real_vendor_without_a_real_model_name_is_a_config_error(model: str) -> None:
    with pytest.raises(ConfigError, match="needs a model name such as"):
        _resolve("anthropic", {"ANTHROPIC_API_KEY": "k"}, model=model)


def test_the_provider_override_wins_over_the_scenario() -> None:
    config = LLMConfig(provider="openai", model="gpt-4o-mini")
    assert isinstance(resolve_provider(config, override="scripted", environ={}), ScriptedProvider)
    with pytest.raises(ConfigError, match="unknown provider 'mystery'"):
        resolve_provider(config, override="mystery", environ={})


def test_resolving_every_vendor_does_no_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("resolution touched the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    env = {"OPENAI_API_KEY": "k", "XAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k",
           "GEMINI_API_KEY": "k"}
    for vendor in ("openai", "grok", "anthropic", "gemini", "ollama"):
        assert isinstance(_resolve(vendor, env), SdkProvider)


def test_retry_and_concurrency_settings_come_from_the_environment() -> None:
    env = {"OPENAI_API_KEY": "k", "APART_LLM_ATTEMPTS": "2", "APART_LLM_BACKOFF_S": "0.25"}
    provider = _resolve("openai", env)
    assert (provider.policy.attempts, provider.policy.base_delay_s) == (2, 0.25)
    with pytest.raises(ConfigError, match="APART_LLM_ATTEMPTS must be a number"):
        _resolve("openai", {**env, "APART_LLM_ATTEMPTS": "many"})
    with pytest.raises(ConfigError, match="APART_MAX_CONCURRENCY_OPENAI"):
        _resolve("openai", {**env, "APART_MAX_CONCURRENCY_OPENAI": "0"})


def test_a_run_naming_a_vendor_without_its_key_is_refused_at_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    store = SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))
    text = textwrap.dedent("""\
        max_steps: 2
        engine: {provider: scripted, model: scripted-v1}
        global_vars: {tension: {type: int, default: 10, min: 0, max: 100}}
        agents:
          - name: Aster
            llm: {provider: anthropic, model: claude-sonnet-4-6}
        """)
    with pytest.raises(ConfigError, match="provider 'anthropic' needs ANTHROPIC_API_KEY"):
        submit(store, text, "keyless")
    assert store.count_runs() == 0
