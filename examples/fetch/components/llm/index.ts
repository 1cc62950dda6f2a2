// llm: the Anthropic TypeScript SDK, unchanged, inside the sandbox. It
// streams a message from `base` (the mock upstream in the tests; the real
// API would need `fetch = ["api.anthropic.com"]` and a key), printing each
// text delta as it arrives, then the final message; then makes the same
// request without streaming.

import Anthropic from "@anthropic-ai/sdk";

export default async function main(init: { base: string; prompt: string }) {
  const client = new Anthropic({ apiKey: "test-key", baseURL: init.base, maxRetries: 0 });
  const request = {
    model: "claude-sonnet-4-5",
    max_tokens: 64,
    messages: [{ role: "user" as const, content: init.prompt }],
  };
  const stream = client.messages.stream(request);
  stream.on("text", (delta) => console.log(`delta ${JSON.stringify(delta)}`));
  const message = await stream.finalMessage();
  const text = message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
  console.log(`final ${JSON.stringify(text)} (${message.stop_reason}, ${message.usage.output_tokens} tokens)`);
  const whole = await client.messages.create(request);
  console.log(`create ${whole.content[0].type === "text" ? JSON.stringify(whole.content[0].text) : "?"}`);
  try {
    await new Anthropic({ apiKey: "test-key", baseURL: "http://127.0.0.2:9", maxRetries: 0 }).messages.create(request);
  } catch (e) {
    console.log(`elsewhere: ${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
}
