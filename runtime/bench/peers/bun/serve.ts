// The Bun side of `ci/bench`: Bun.serve running the very handlers rusm runs
// in examples/serve-ts (its HTTP hello and its SSE stream are fetch-shaped,
// so Bun takes them unchanged), plus the same WebSocket echo written for
// Bun's API. Native and unsandboxed: the reference for what a JS handler
// costs without one process per request.
//
//   bun runtime/bench/peers/bun/serve.ts <port>
//
// GET /web?who=x  -> serve-ts's `web`:    hello, x
// GET /events/x   -> serve-ts's `events`: data: x tick 0 ...
// /ws             -> welcome, then an echo of each message

import events from "../../../../examples/serve-ts/components/events/index.ts";
import web from "../../../../examples/serve-ts/components/web/index.ts";

const port = Number(process.argv[2] ?? 18091);

Bun.serve({
  hostname: "127.0.0.1",
  port,
  // Idle connections are held, as rusm holds them.
  idleTimeout: 0,
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/ws") {
      return server.upgrade(request) ? undefined : new Response("upgrade expected\n", { status: 400 });
    }
    if (url.pathname.startsWith("/events/")) {
      // serve-ts's events handler takes the room from the whole path.
      url.pathname = url.pathname.slice("/events".length);
      return events(new Request(url, request));
    }
    return web(request);
  },
  websocket: {
    idleTimeout: 0,
    open(ws) {
      ws.send("welcome\n");
    },
    message(ws, data) {
      ws.send(data);
    },
  },
});
console.log(`listening on 127.0.0.1:${port}`);
