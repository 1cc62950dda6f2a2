// reader: fetches one URL and prints what comes, line by line: the status,
// each piece of the body as it arrives, and how it ended. The init payload
// says what to fetch:
//
//   {"url": "http://127.0.0.1:9400/hang-up?events=3"}
//   {"url": "...", "method": "POST", "body": "text"}        a whole body
//   {"url": "...", "method": "POST", "stream": ["a", "b"]}   a streamed one
//   {"url": "...", "redirect": "manual"}                     or "error"
//   {"url": "...", "abortAfterMs": 50}                       an AbortSignal
//   {"url": "...", "parallel": 3}         three at once, their bodies unread

import { Process } from "rusm-ts";

interface Init {
  url: string;
  method?: string;
  body?: string;
  stream?: string[];
  redirect?: "follow" | "manual" | "error";
  abortAfterMs?: number;
  parallel?: number;
}

export default async function main(init: Init) {
  if (init.parallel !== undefined) return parallel(init.url, init.parallel);
  const controller = new AbortController();
  if (init.abortAfterMs !== undefined) setTimeout(() => controller.abort(), init.abortAfterMs);
  const pieces = init.stream;
  const body =
    pieces !== undefined
      ? new ReadableStream<Uint8Array>({
          start(controller) {
            for (const piece of pieces) controller.enqueue(new TextEncoder().encode(piece));
            controller.close();
          },
        })
      : init.body;
  try {
    const response = await fetch(init.url, {
      method: init.method ?? "GET",
      body,
      redirect: init.redirect,
      signal: controller.signal,
    });
    console.log(`status ${response.status} ${response.url} redirected=${response.redirected}`);
    const received = response.headers.get("x-received-bytes");
    if (received !== null) console.log(`the server received ${received} bytes`);
    if (response.body === null) return console.log("no body");
    let bytes = 0;
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const piece: Uint8Array = read.value;
      bytes += piece.length;
      // Long bodies are counted, short ones shown.
      if (piece.length <= 200) console.log(`chunk ${JSON.stringify(decoder.decode(piece, { stream: true }))}`);
    }
    console.log(`end, ${bytes} bytes`);
  } catch (e) {
    const error = e as Error;
    console.log(`failed: ${error.name}: ${error.message}`);
  }
  // However it ended, nothing of the request reaches the process's own
  // mailbox (the fetch process's end is taken by fetch).
  const stray = await Process.receive(50);
  if (stray !== null) console.log(`stray message: ${stray.kind}`);
}

// Starts `n` requests at once and leaves their bodies unread, so all are
// in flight together: past `[runtime] max-fetches`, a start is refused.
async function parallel(url: string, n: number) {
  const started = await Promise.allSettled(Array.from({ length: n }, async () => fetch(url)));
  for (const [i, outcome] of started.entries()) {
    if (outcome.status === "fulfilled") console.log(`request ${i}: status ${outcome.value.status}`);
    else console.log(`request ${i}: failed: ${(outcome.reason as Error).message}`);
  }
}
