"""LLMClient against a real HTTP server speaking OpenAI's and Ollama's chat APIs."""

from __future__ import annotations

import socket

import pytest

from chiffon.llm.client import LLMClient, ModelEndpoint, close_clients
from chiffon.llm.errors import ModelRefused, ModelUnreachable

from .model_server import ModelServer, Reply, Slow, Status
from .support import TIMEOUT_S, external_endpoint, local_endpoint

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer"],
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
}
MESSAGES = [{"role": "system", "content": "Answer yes or no."}, {"role": "user", "content": "?"}]


def client() -> LLMClient:
    return LLMClient(timeout_s=TIMEOUT_S, num_retries=1)


async def test_an_openai_model_answers_text_tokens_and_a_cost_from_the_cost_map(
    server: ModelServer,
) -> None:
    server.openai.append(Reply('{"answer": "yes"}', prompt_tokens=1000, completion_tokens=100))
    llm = client()
    endpoint = external_endpoint(server)

    completion = await llm.complete(endpoint, MESSAGES, schema=SCHEMA, schema_name="yes_no")

    assert completion.text == '{"answer": "yes"}'
    assert (completion.model, completion.prompt_tokens, completion.completion_tokens) == (
        "openai/gpt-4o-mini",
        1000,
        100,
    )
    # gpt-4o-mini in the bundled cost map: $0.15 per million prompt tokens, $0.60 completion.
    assert completion.cost_usd == pytest.approx(1000 * 0.15e-6 + 100 * 0.60e-6)
    assert completion.latency_ms > 0
    (received,) = server.received
    assert received.model == "gpt-4o-mini"
    assert received.body["messages"] == MESSAGES
    assert received.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "yes_no", "schema": SCHEMA, "strict": True},
    }


async def test_ollama_gets_the_schema_as_its_format_and_a_local_model_costs_nothing(
    server: ModelServer,
) -> None:
    server.ollama.append(Reply('{"answer": "no"}', prompt_tokens=50, completion_tokens=7))

    completion = await client().complete(local_endpoint(server), MESSAGES, schema=SCHEMA)

    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        '{"answer": "no"}',
        50,
        7,
    )
    assert completion.cost_usd == 0.0
    (received,) = server.received
    assert (received.api, received.path, received.model) == ("ollama", "/api/chat", "llama3.1")
    assert received.body["format"] == SCHEMA
    # A context window that holds the prompt and a full answer, not Ollama's silent default.
    assert received.body["options"]["num_ctx"] == 4096


async def test_a_long_prompt_asks_ollama_for_a_wider_context_window(server: ModelServer) -> None:
    server.ollama.append(Reply("{}"))
    long_prompt = [{"role": "user", "content": "x" * 9000}]  # ~3,000 tokens + 2,048 to answer

    await client().complete(local_endpoint(server), long_prompt)

    assert server.received[0].body["options"]["num_ctx"] == 8192


async def test_an_ollama_model_is_asked_through_ollamas_chat_api(server: ModelServer) -> None:
    server.ollama.append(Reply('{"answer": "yes"}'))

    completion = await client().complete(
        local_endpoint(server, "ollama/llama3.1"), MESSAGES, schema=SCHEMA
    )

    assert (completion.text, completion.model) == ('{"answer": "yes"}', "ollama/llama3.1")
    (received,) = server.received
    assert (received.path, received.model) == ("/api/chat", "llama3.1")
    assert received.body["format"] == SCHEMA


async def test_a_model_the_cost_map_does_not_know_costs_nothing_and_is_asked_for_json(
    server: ModelServer,
) -> None:
    server.openai.append(Reply('{"answer": "yes"}'))
    endpoint = ModelEndpoint("openai/homelab-qwen", api_base=server.openai_base)

    completion = await client().complete(endpoint, MESSAGES, schema=SCHEMA)

    assert completion.cost_usd == 0.0
    assert server.received[0].body["response_format"] == {"type": "json_object"}


async def test_a_server_that_keeps_answering_5xx_is_unreachable(server: ModelServer) -> None:
    server.openai.extend([Status(503), Status(503)])

    with pytest.raises(ModelUnreachable, match=r"gpt-4o-mini is unreachable: .*503") as caught:
        await client().complete(external_endpoint(server), MESSAGES)

    assert caught.value.retryable
    assert len(server.received) == 2  # the attempt and LiteLLM's one retry
    assert not server.openai


async def test_a_5xx_then_an_answer_is_an_answer_after_litellms_retry(
    server: ModelServer,
) -> None:
    server.openai.extend([Status(500), Reply("fine")])

    completion = await client().complete(external_endpoint(server), MESSAGES)

    assert completion.text == "fine"


async def test_a_4xx_is_a_refusal_naming_the_status(server: ModelServer) -> None:
    server.openai.append(Status(401, "invalid api key"))

    with pytest.raises(ModelRefused, match=r"refused the request \(401\): .*invalid api key"):
        await client().complete(external_endpoint(server), MESSAGES)


async def test_an_unknown_ollama_model_is_a_refusal(server: ModelServer) -> None:
    server.ollama.append(Status(404, 'model "llama9" not found, try pulling it first'))

    with pytest.raises(ModelRefused, match="not found") as caught:
        await client().complete(local_endpoint(server, "ollama_chat/llama9"), MESSAGES)

    assert caught.value.status == 404


async def test_an_answer_slower_than_the_timeout_is_unreachable(server: ModelServer) -> None:
    server.ollama.extend([Slow(Reply("late"), 60), Slow(Reply("late"), 60)])

    with pytest.raises(ModelUnreachable, match=f"no answer within {TIMEOUT_S:g} s"):
        await client().complete(local_endpoint(server), MESSAGES)


async def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = ModelEndpoint("ollama_chat/llama3.1", api_base=f"http://127.0.0.1:{port}")

    with pytest.raises(ModelUnreachable, match=r"llama3\.1 is unreachable"):
        await client().complete(endpoint, MESSAGES)


async def test_calls_after_closing_litellms_clients_open_new_ones(server: ModelServer) -> None:
    server.openai.extend([Reply("before"), Reply("after")])
    server.ollama.extend([Reply("before"), Reply("after")])
    llm = client()
    for endpoint in (external_endpoint(server), local_endpoint(server)):
        assert (await llm.complete(endpoint, MESSAGES)).text == "before"

    await close_clients()

    for endpoint in (external_endpoint(server), local_endpoint(server)):
        assert (await llm.complete(endpoint, MESSAGES)).text == "after"
