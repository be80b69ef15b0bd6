"""LLM providers: one async interface (DESIGN §10), the offline ``scripted``
provider, and the resolver from a scenario's ``LLMConfig`` to a provider.

The vendor adapters (``openai_compat``, ``anthropic_messages``, ``gemini``,
``ollama_chat``) import their SDKs and are loaded by the resolver on demand.
"""

from apart.llm.base import CallContext, Completion, LLMRequest, Message, Provider, Role
from apart.llm.limits import ProviderPool
from apart.llm.registry import provider_names, resolve_provider
from apart.llm.retry import RetryPolicy
from apart.llm.scripted import ScriptedProvider

__all__ = [
    "CallContext",
    "Completion",
    "LLMRequest",
    "Message",
    "Provider",
    "ProviderPool",
    "RetryPolicy",
    "Role",
    "ScriptedProvider",
    "provider_names",
    "resolve_provider",
]
