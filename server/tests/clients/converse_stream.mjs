// The AWS SDK for JavaScript's Bedrock runtime client, unmodified, against the gateway's
// Bedrock-compatible door: one ConverseStream read whole, over HTTP/2 as the SDK speaks it.
//
// `node converse_stream.mjs PROMPT` prints, as its last line, one JSON object: what the SDK made of
// the answer and every event. The key comes from AWS_BEARER_TOKEN_BEDROCK (the SDK then signs with
// it as a bearer token), the CA from NODE_EXTRA_CA_CERTS, as for any team.

import { BedrockRuntimeClient, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";

const client = new BedrockRuntimeClient({ region: "us-east-1", endpoint: process.env.GATEWAY_URL, maxAttempts: 1 });
const prompt = process.argv[2];
const response = await client.send(
  new ConverseStreamCommand({ modelId: "chat", messages: [{ role: "user", content: [{ text: prompt }] }] }),
);
const seen = { text: "", stopReason: null, usage: null, events: [], metadata: response.$metadata };
for await (const event of response.stream) {
  seen.events.push(event);
  if (event.contentBlockDelta) seen.text += event.contentBlockDelta.delta.text;
  if (event.messageStop) seen.stopReason = event.messageStop.stopReason;
  if (event.metadata) seen.usage = event.metadata.usage;
}
client.destroy();
console.log(JSON.stringify(seen));
