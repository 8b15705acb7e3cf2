"""boto3's bedrock-runtime client, unmodified, against the gateway's Bedrock-compatible door.

`python boto3_client.py CASE [ARG]` runs one case and prints, as its last line, one JSON object:
what the client made of the answer, and everything it received (for the test to check that no
Bedrock model id is in it). The key comes from AWS_BEARER_TOKEN_BEDROCK, the CA from AWS_CA_BUNDLE,
as for any team.
"""

import json
import os
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

# Retries would hide the first answer (a throttle is retried by default): every call is made once.
ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})

TOOL = {
    "toolSpec": {
        "name": "lookup",
        "description": "Looks things up.",
        "inputSchema": {"json": {"type": "object"}},
    }
}


def client():
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=os.environ["GATEWAY_URL"],
        region_name="us-east-1",
        config=ONCE,
    )


def user(*content):
    return [{"role": "user", "content": list(content)}]


def read_stream(response):
    """Reads a ConverseStream answer whole: text, tool calls, stop reason, usage, every event."""
    seen = {"text": "", "tool_uses": [], "stop_reason": None, "usage": None, "events": []}
    for event in response["stream"]:
        seen["events"].append(event)
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]["start"]
            if "toolUse" in start:
                seen["tool_uses"].append(dict(start["toolUse"], input=""))
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]["delta"]
            if "text" in delta:
                seen["text"] += delta["text"]
            if "toolUse" in delta:
                seen["tool_uses"][-1]["input"] += delta["toolUse"]["input"]
        elif "messageStop" in event:
            seen["stop_reason"] = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            seen["usage"] = event["metadata"]["usage"]
    seen["headers"] = response["ResponseMetadata"]["HTTPHeaders"]
    return seen


def converse_stream(prompt):
    return read_stream(client().converse_stream(modelId="chat", messages=user({"text": prompt})))


def converse_stream_tool(prompt):
    """A tool call streamed, then its result sent back with a word of thanks: the round trip."""
    bedrock = client()
    config = {"tools": [TOOL]}
    called = read_stream(bedrock.converse_stream(modelId="chat", messages=user({"text": prompt}), toolConfig=config))
    call = called["tool_uses"][0]
    assistant = {
        "role": "assistant",
        "content": [
            {"text": called["text"]},
            {"toolUse": {"toolUseId": call["toolUseId"], "name": call["name"], "input": json.loads(call["input"])}},
        ],
    }
    result = {"toolResult": {"toolUseId": call["toolUseId"], "content": [{"json": {"answer": 42}}]}}
    messages = user({"text": prompt}) + [assistant] + user(result, {"text": "thanks"})
    answered = bedrock.converse(modelId="chat", messages=messages, toolConfig=config)
    return {"called": called, "answered": answered}


def converse(prompt):
    response = client().converse(modelId="chat", messages=user({"text": prompt}))
    return {
        "text": response["output"]["message"]["content"][0]["text"],
        "stop_reason": response["stopReason"],
        "usage": response["usage"],
        "response": response,
    }


def count_tokens(prompt):
    response = client().count_tokens(modelId="chat", input={"converse": {"messages": user({"text": prompt})}})
    return {"input_tokens": response["inputTokens"], "response": response}


def invoke_embed(text):
    body = json.dumps({"inputText": text, "dimensions": 256})
    response = client().invoke_model(modelId="embed", body=body, contentType="application/json")
    answer = json.loads(response["body"].read())
    return {"answer": answer, "headers": response["ResponseMetadata"]["HTTPHeaders"]}


def refused(call):
    """The exception `call` raised: its class (the one boto3 made for the error type), code,
    status, message and headers."""
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return {
            "class": type(err).__name__,
            "code": err.response["Error"]["Code"],
            "message": err.response["Error"]["Message"],
            "status": err.response["ResponseMetadata"]["HTTPStatusCode"],
            "headers": err.response["ResponseMetadata"]["HTTPHeaders"],
        }
    raise AssertionError("the call succeeded; it was to be refused")


def throttled(prompt):
    """Two calls on a quota of one request a minute: the first is served, the second refused."""
    bedrock = client()
    first = bedrock.converse(modelId="chat", messages=user({"text": prompt}))
    second = refused(lambda: bedrock.converse(modelId="chat", messages=user({"text": prompt})))
    return {"first": first["output"]["message"]["content"][0]["text"], "refused": second}


def refused_converse(alias):
    return refused(lambda: client().converse(modelId=alias, messages=user({"text": "hello"})))


def bad_image_format(_):
    image = {"image": {"format": "tiff", "source": {"bytes": b"II*\x00"}}}
    return refused(lambda: client().converse(modelId="chat", messages=user({"text": "look"}, image)))


def bad_top_p(_):
    return refused(
        lambda: client().converse(modelId="chat", messages=user({"text": "hello"}), inferenceConfig={"topP": 1.5})
    )


def stream_fault(alias):
    """A stream that fails after its first events: botocore raises EventStreamError while it is
    read, after the text that came before."""
    response = client().converse_stream(modelId=alias, messages=user({"text": "hello"}))
    seen = {"text": "", "events": []}
    try:
        for event in response["stream"]:
            seen["events"].append(event)
            if "contentBlockDelta" in event:
                seen["text"] += event["contentBlockDelta"]["delta"]["text"]
    except botocore.exceptions.EventStreamError as err:
        seen["error"] = {
            "class": type(err).__name__,
            "code": err.response["Error"]["Code"],
            "message": err.response["Error"]["Message"],
        }
        return seen
    raise AssertionError(f"the stream ended cleanly: {seen}")


CASES = {
    "converse_stream": converse_stream,
    "converse_stream_tool": converse_stream_tool,
    "converse": converse,
    "count_tokens": count_tokens,
    "invoke_embed": invoke_embed,
    "throttled": throttled,
    "refused_converse": refused_converse,
    "bad_image_format": bad_image_format,
    "bad_top_p": bad_top_p,
    "stream_fault": stream_fault,
}

if __name__ == "__main__":
    case, argument = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    print(json.dumps(CASES[case](argument), default=str))
