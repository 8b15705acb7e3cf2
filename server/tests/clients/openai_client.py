"""The official `openai` package, unmodified, against the gateway's OpenAI-compatible door.

`python openai_client.py CASE [ARG]` runs one case and prints, as its last line, one JSON object:
what the package made of the answer, and everything it received (for the test to check that no
Bedrock model id is in it). The key comes from OPENAI_API_KEY, the CA from SSL_CERT_FILE, as for
any team.
"""

import json
import os
import sys

import openai

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Looks things up.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def client():
    # No retries: a 429 must reach the caller as the package raises it.
    return openai.OpenAI(base_url=os.environ["GATEWAY_URL"] + "/v1", max_retries=0)


def user(prompt):
    return [{"role": "user", "content": prompt}]


def read_stream(stream):
    """A streamed completion read whole: text, tool calls reassembled from their pieces (by index),
    finish reason, usage, every chunk."""
    seen = {"text": "", "tool_calls": {}, "finish_reason": None, "usage": None, "models": [], "chunks": []}
    for chunk in stream:
        seen["chunks"].append(chunk.model_dump())
        seen["models"].append(chunk.model)
        if chunk.usage is not None:
            seen["usage"] = chunk.usage.model_dump()
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                seen["text"] += delta.content
            for piece in delta.tool_calls or []:
                call = seen["tool_calls"].setdefault(piece.index, {"id": None, "name": None, "arguments": ""})
                if piece.id:
                    call["id"] = piece.id
                if piece.function and piece.function.name:
                    call["name"] = piece.function.name
                if piece.function and piece.function.arguments:
                    call["arguments"] += piece.function.arguments
            if choice.finish_reason:
                seen["finish_reason"] = choice.finish_reason
    seen["tool_calls"] = [seen["tool_calls"][index] for index in sorted(seen["tool_calls"])]
    return seen


def stream(prompt):
    return read_stream(
        client().chat.completions.create(
            model="chat", messages=user(prompt), stream=True, stream_options={"include_usage": True}
        )
    )


def tools(prompt):
    return read_stream(client().chat.completions.create(model="chat", messages=user(prompt), tools=[TOOL], stream=True))


def json_schema(prompt):
    completion = client().chat.completions.create(
        model="chat",
        messages=user(prompt),
        response_format={"type": "json_schema", "json_schema": {"name": "forecast", "schema": SCHEMA, "strict": True}},
    )
    return {
        "content": completion.choices[0].message.content,
        "finish_reason": completion.choices[0].finish_reason,
        "model": completion.model,
        "completion": completion.model_dump(),
    }


def embeddings(_):
    # The package asks for base64 unless told otherwise, and decodes it.
    response = client().embeddings.create(model="embed", input=["first text", "second text"], dimensions=256)
    return {
        "vectors": [item.embedding for item in response.data],
        "indexes": [item.index for item in response.data],
        "model": response.model,
        "usage": response.usage.model_dump(),
    }


def models(_):
    listed = client().models.list()
    return {"ids": [model.id for model in listed], "models": [model.model_dump() for model in listed]}


def rate_limited(prompt):
    """Two calls on a quota of one request a minute: the first is served, the second refused."""
    openai_client = client()
    first = openai_client.chat.completions.create(model="chat", messages=user(prompt))
    try:
        openai_client.chat.completions.create(model="chat", messages=user(prompt))
    except openai.APIStatusError as err:
        refused = {
            "class": type(err).__name__,
            "status": err.status_code,
            "retry_after": err.response.headers.get("retry-after"),
            "body": err.body,
        }
        return {"first": first.choices[0].message.content, "refused": refused}
    raise AssertionError("the second call was served; it was to be refused")


def cut_stream(alias):
    """A stream that fails after its first chunks: the package raises while it is read, after the
    text that came before, rather than ending as if the answer were whole."""
    seen = {"text": "", "chunks": []}
    try:
        for chunk in client().chat.completions.create(model=alias, messages=user("hello"), stream=True):
            seen["chunks"].append(chunk.model_dump())
            for choice in chunk.choices:
                seen["text"] += choice.delta.content or ""
    except openai.APIError as err:
        seen["error"] = {"class": type(err).__name__, "message": err.message, "body": err.body}
        return seen
    raise AssertionError(f"the stream ended cleanly: {seen}")


CASES = {
    "stream": stream,
    "tools": tools,
    "json_schema": json_schema,
    "embeddings": embeddings,
    "models": models,
    "rate_limited": rate_limited,
    "cut_stream": cut_stream,
}

if __name__ == "__main__":
    case, argument = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    print(json.dumps(CASES[case](argument), default=str))
