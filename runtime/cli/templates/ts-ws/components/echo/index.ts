// echo: one process per WebSocket connection. It greets, then answers
// each frame with its number on this connection. Its state is its own:
// another connection counts from 1. When the client leaves, the process
// exits (reason `disconnect`); there is no close callback.

import { websocket } from "rusm-ts";

let frames = 0;

export default websocket({
  open(s) {
    s.send("welcome\n");
  },
  message(s, data) {
    frames++;
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    s.send(`${frames}: ${text}`);
  },
});
