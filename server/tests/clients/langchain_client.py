"""LangChain's chat models, unmodified, against the gateway: ChatBedrockConverse (langchain-aws,
through boto3) on the Bedrock-compatible door and ChatOpenAI (langchain-openai, through the
`openai` package) on the OpenAI-compatible door.

`python langchain_client.py CASE PROMPT` makes one call and prints, as its last line, one JSON
object: the message LangChain made of the answer.
"""

import json
import os
import sys

from langchain_aws import ChatBedrockConverse
from langchain_openai import ChatOpenAI


def bedrock(prompt):
    model = ChatBedrockConverse(
        model="chat",
        endpoint_url=os.environ["GATEWAY_URL"],
        region_name="us-east-1",
        max_retries=0,
    )
    return model.invoke(prompt)


def openai(prompt):
    model = ChatOpenAI(model="chat", base_url=os.environ["GATEWAY_URL"] + "/v1", max_retries=0)
    return model.invoke(prompt)


CASES = {"bedrock": bedrock, "openai": openai}

if __name__ == "__main__":
    message = CASES[sys.argv[1]](sys.argv[2])
    print(json.dumps({"text": message.text, "message": message.model_dump()}, default=str))
