"""LLM providers: one async interface (DESIGN §10), the offline ``scripted``
provider, and the resolver from a scenario's ``LLMConfig`` to a provider."""

from apart.llm.base import CallContext, Completion, LLMRequest, Message, Provider, Role
from apart.llm.registry import provider_names, resolve_provider
from apart.llm.scripted import ScriptedProvider

__all__ = [
    "CallContext",
    "Completion",
    "LLMRequest",
    "Message",
    "Provider",
    "Role",
    "ScriptedProvider",
    "provider_names",
    "resolve_provider",
]
