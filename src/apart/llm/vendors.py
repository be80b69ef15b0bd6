"""The real vendors apart speaks to: which SDK and extra each needs, where its
key lives, its default endpoint — and the checks that turn a scenario's
:class:`LLMConfig` into an :class:`Endpoint` without any network I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from apart.errors import ConfigError
from apart.llm.adapter import Endpoint
from apart.scenario.schema import LLMConfig

#: sent as the key to a local server that needs none (the SDKs insist on one)
PLACEHOLDER_KEY = "apart-no-key"
OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
#: every refusal also says how to try the scenario without the vendor
OFFLINE = "run offline with `--provider scripted`"


@dataclass(frozen=True)
class Vendor:
    name: str
    module: str  # the adapter's module (imports the SDK)
    adapter: str  # the adapter's class in ``module``
    sdk: str  # the SDK's distribution name, for messages
    extra: str  # ``pip install 'apart[extra]'``
    key_vars: tuple[str, ...]  # the first one set is used; () = no key needed
    default_base_url: str
    example_model: str
    local_hint: str  # what to do instead of a key

    @property
    def install_hint(self) -> str:
        return f"pip install 'apart[{self.extra}]'"

    @property
    def official_host(self) -> str:
        return urlsplit(self.default_base_url).hostname or ""


_OPENAI_MODULE = "apart.llm.openai_compat"

VENDORS: Mapping[str, Vendor] = MappingProxyType({
    "openai": Vendor(
        "openai", _OPENAI_MODULE, "OpenAIChatProvider", "openai", "openai",
        ("OPENAI_API_KEY",), "https://api.openai.com/v1", "gpt-4o-mini",
        "or set base_url to a local OpenAI-compatible server",
    ),
    "grok": Vendor(
        "grok", _OPENAI_MODULE, "OpenAIChatProvider", "openai", "openai",
        ("XAI_API_KEY",), "https://api.x.ai/v1", "grok-3-mini",
        "or set base_url to a local OpenAI-compatible server",
    ),
    "anthropic": Vendor(
        "anthropic", "apart.llm.anthropic_messages", "AnthropicMessagesProvider", "anthropic",
        "anthropic", ("ANTHROPIC_API_KEY",), "https://api.anthropic.com", "claude-sonnet-4-6",
        "or set base_url to a local server that needs no key",
    ),
    "gemini": Vendor(
        "gemini", "apart.llm.gemini", "GeminiProvider", "google-genai", "gemini",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "https://generativelanguage.googleapis.com",
        "gemini-2.5-flash", "or set base_url to a local server that needs no key",
    ),
    "ollama": Vendor(
        "ollama", "apart.llm.ollama_chat", "OllamaChatProvider", "ollama", "ollama",
        (), OLLAMA_DEFAULT_URL, "llama3.2", "",
    ),
})


def endpoint_for(vendor: Vendor, config: LLMConfig, environ: Mapping[str, str]) -> Endpoint:
    """Where and as whom ``vendor`` is called for ``config``; ConfigError names the fix."""
    base_url = _base_url(vendor, config, environ)
    _check_model(vendor, config.model)
    headers: dict[str, str] = {}
    if vendor.name == "ollama" and environ.get("OLLAMA_API_KEY", "").strip():
        headers["Authorization"] = f"Bearer {environ['OLLAMA_API_KEY'].strip()}"
    return Endpoint(
        provider=vendor.name,
        model=config.model,
        base_url=base_url,
        api_key=_api_key(vendor, base_url, environ),
        timeout_s=config.timeout_s,
        headers=MappingProxyType(headers),
    )


def _base_url(vendor: Vendor, config: LLMConfig, environ: Mapping[str, str]) -> str:
    url = (config.base_url or "").strip()
    source = "base_url"
    if not url and vendor.name == "ollama":
        url, source = environ.get("OLLAMA_BASE_URL", "").strip(), "OLLAMA_BASE_URL"
    if not url:
        return vendor.default_base_url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        example = "http://127.0.0.1:8000/v1" if vendor.module == _OPENAI_MODULE else (
            "http://127.0.0.1:11434" if vendor.name == "ollama" else "http://127.0.0.1:8080")
        raise ConfigError(
            f"provider '{vendor.name}': {source} {url!r} is not an http(s) URL; "
            f"write it in full, e.g. {example}"
        )
    return url.rstrip("/")


def _api_key(vendor: Vendor, base_url: str, environ: Mapping[str, str]) -> str:
    if not vendor.key_vars:
        return PLACEHOLDER_KEY
    for var in vendor.key_vars:
        value = environ.get(var, "").strip()
        if value:
            return value
    if urlsplit(base_url).hostname != vendor.official_host:
        return PLACEHOLDER_KEY  # a local or self-hosted server: it may need no key
    names = " or ".join(vendor.key_vars)
    raise ConfigError(
        f"provider '{vendor.name}' needs {names} ({vendor.local_hint}); set it in the "
        f"environment of the process that runs the simulation, or {OFFLINE}"
    )


def _check_model(vendor: Vendor, model: str) -> None:
    if not model.strip() or model.startswith("scripted"):
        raise ConfigError(
            f"provider '{vendor.name}' needs a model name such as '{vendor.example_model}' "
            f"(got {model!r}); set model next to provider in the scenario, or {OFFLINE}"
        )
