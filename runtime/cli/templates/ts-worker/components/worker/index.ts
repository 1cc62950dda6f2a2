// worker: answers each {"greet": name} with {"hello": name}, and ends
// (normally) once no message has come for `idle_ms`: Erlang's
// `receive ... after`. The default export is the process; its init
// payload arrives JSON-decoded.

import { Process } from "rusm-ts";

export default async function main(init: { idle_ms: number }) {
  let greeted = 0;
  for (;;) {
    const message = await Process.receive(init.idle_ms);
    if (message === null) break;
    if (message.kind !== "data") continue;
    const request = message.data as { greet?: string };
    if (typeof request.greet === "string") {
      greeted++;
      Process.send(message.from, { hello: request.greet });
    } else {
      console.warn("worker: not a request:", message.data);
    }
  }
  console.log(`worker: greeted ${greeted}, then nothing for ${init.idle_ms} ms: done`);
}
