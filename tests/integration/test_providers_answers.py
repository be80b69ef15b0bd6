"""Each adapter, through its vendor's official SDK, against a local server that
speaks the vendor's wire format: what is sent, and what comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from apart.llm.base import Message
from tests.fakes.calls import VENDORS, ask, provider_on, request
from tests.fakes.server import FakeVendor, Reply, running_fake

KEYS = {"openai": "sk-test", "grok": "xai-test", "anthropic": "sk-ant-test", "gemini": "gm-test"}
KEY_VARS = {"openai": "OPENAI_API_KEY", "grok": "XAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
            "gemini": "GEMINI_API_KEY"}


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[FakeVendor]:
    with running_fake() as server:
        yield server


@pytest.fixture
def fake(vendor_server: FakeVendor) -> FakeVendor:
    vendor_server.reset()
    return vendor_server


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_answer_comes_back_with_its_text_usage_tokens_and_model(
    fake: FakeVendor, vendor: str
) -> None:
    fake.default = Reply(text="Aster opens talks. <think>kept</think>", input_tokens=123,
                         output_tokens=45, model="served-model-2025")
    completion = ask(provider_on(fake, vendor))
    assert completion.text == "Aster opens talks. <think>kept</think>"
    assert (completion.input_tokens, completion.output_tokens) == (123, 45)
    assert completion.model == "served-model-2025"
    assert completion.latency_ms > 0
    assert completion.cost_usd == 0.0
    assert len(fake.seen) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_system_prompt_messages_and_model_reach_the_vendor(
    fake: FakeVendor, vendor: str
) -> None:
    messages = (Message("user", "Step 1 briefing"), Message("assistant", "We wait."),
                Message("user", "Step 2 briefing"))
    ask(provider_on(fake, vendor, model="configured-model"),
        request(system="You lead Aster.", messages=messages))
    parsed = fake.seen[0].parsed
    assert parsed.system == "You lead Aster."
    assert parsed.messages == [("user", "Step 1 briefing"), ("assistant", "We wait."),
                               ("user", "Step 2 briefing")]
    assert parsed.model == "configured-model"


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_request_s_own_model_wins_over_the_configured_one(
    fake: FakeVendor, vendor: str
) -> None:
    ask(provider_on(fake, vendor, model="configured"), request(model="asked"))
    assert fake.seen[0].parsed.model == "asked"


@pytest.mark.parametrize("vendor", VENDORS)
def test_json_mode_is_sent_where_the_vendor_has_it(fake: FakeVendor, vendor: str) -> None:
    provider = provider_on(fake, vendor)
    ask(provider, request(json_mode=True))
    ask(provider, request(json_mode=False))
    body_json, body_plain = fake.seen[0].body, fake.seen[1].body
    if vendor in ("openai", "grok"):
        assert body_json["response_format"] == {"type": "json_object"}
        assert "response_format" not in body_plain
    elif vendor == "gemini":
        assert body_json["generationConfig"]["responseMimeType"] == "application/json"
        assert "responseMimeType" not in body_plain.get("generationConfig", {})
    elif vendor == "ollama":
        assert body_json["format"] == "json"
        assert not body_plain.get("format")
    else:  # Anthropic has no JSON mode: the prompt asks for JSON
        assert body_json.keys() == body_plain.keys()
    assert fake.seen[0].parsed.json_mode is (vendor != "anthropic")


@pytest.mark.parametrize("vendor", VENDORS)
def test_temperature_and_max_tokens_are_sent_in_the_vendor_s_terms(
    fake: FakeVendor, vendor: str
) -> None:
    ask(provider_on(fake, vendor), request(temperature=0.3, max_tokens=321))
    body = fake.seen[0].body
    if vendor in ("openai", "grok"):  # a local OpenAI-compatible server takes max_tokens
        assert (body["temperature"], body["max_tokens"]) == (0.3, 321)
    elif vendor == "anthropic":  # the 2.x SDK has no temperature
        assert body["max_tokens"] == 321
        assert "temperature" not in body
    elif vendor == "gemini":
        config = body["generationConfig"]
        assert (config["temperature"], config["maxOutputTokens"]) == (0.3, 321)
    else:
        assert body["options"] == {"temperature": 0.3, "num_predict": 321}


def test_anthropic_gets_a_default_max_tokens_because_its_api_requires_one(
    fake: FakeVendor,
) -> None:
    ask(provider_on(fake, "anthropic"))
    assert fake.seen[0].body["max_tokens"] == 4096


@pytest.mark.parametrize("vendor", sorted(KEYS))
def test_the_key_from_the_environment_reaches_the_vendor(fake: FakeVendor, vendor: str) -> None:
    environ = {KEY_VARS[vendor]: KEYS[vendor]}
    ask(provider_on(fake, vendor, environ=environ))
    headers = fake.seen[0].headers
    sent = {headers.get("authorization"), headers.get("x-api-key"), headers.get("x-goog-api-key")}
    assert sent & {KEYS[vendor], f"Bearer {KEYS[vendor]}"}


def test_a_thinking_model_s_separate_reasoning_is_kept_in_front_of_the_answer(
    fake: FakeVendor,
) -> None:
    fake.push(Reply(raw='{"model": "qwen3", "message": {"role": "assistant", "content": "Wait.",'
                        ' "thinking": "Hmm."}, "done": true, "prompt_eval_count": 3,'
                        ' "eval_count": 2}'))
    completion = ask(provider_on(fake, "ollama"))
    assert completion.text == "<think>Hmm.</think>\nWait."


def test_one_provider_serves_calls_from_successive_event_loops(fake: FakeVendor) -> None:
    provider = provider_on(fake, "openai")
    for _ in range(2):  # a worker plays each run in its own asyncio.run
        # no aclose between runs: the client of the finished loop is replaced
        assert asyncio.run(provider.complete(request())).text == "All quiet."
    assert len(fake.seen) == 2
