// Serving with web standards. An HTTP component's default export is a
// fetch-shaped handler, `(request: Request) => Response` (or a promise of
// one); a body that is a ReadableStream is streamed (Server-Sent Events,
// say) until it ends or the client leaves. A WebSocket component's default
// export is `websocket({ open, message })`: one process per connection,
// which ends (reason `disconnect`) when the client leaves.

import { type DataMessage, take } from "./mailbox";
import { native, type Session } from "./natives";
import { Request, Response } from "./web/fetch";
import { ReadableStream } from "./web/streams";

const WEBSOCKET = Symbol.for("rusm-ts.websocket");

/** The client's end of a WebSocket. */
export interface Socket {
  /** Sends a text frame (a string) or a binary one (bytes); false once the client has gone. */
  send(data: string | Uint8Array | ArrayBuffer): boolean;
  /** The upgrade request. */
  readonly request: Request;
}

export interface WebSocketHandler {
  /** The connection is open; the client has sent nothing yet. */
  open?(socket: Socket): unknown;
  /** A frame arrived: text as a string, binary as bytes. */
  message?(socket: Socket, data: string | Uint8Array): unknown;
}

/** Makes `handler` a WebSocket component's default export. */
export function websocket(handler: WebSocketHandler): WebSocketHandler {
  return Object.assign(Object.create(null), handler, { [WEBSOCKET]: true });
}

export function isWebSocket(value: unknown): value is WebSocketHandler {
  return typeof value === "object" && value !== null && WEBSOCKET in value;
}

/** The session's request as a web Request (absolute URL from the Host header). */
function requestOf(session: Session): Request {
  const host = session.headers.find(([name]) => name === "host")?.[1] ?? "localhost";
  const url = `http://${host}${session.path}${session.query ? `?${session.query}` : ""}`;
  const bodyless = session.method === "GET" || session.method === "HEAD";
  return new Request(url, {
    method: session.method,
    headers: session.headers,
    body: bodyless ? null : session.body,
  });
}

export async function serveHttp(session: Session, handler: (request: Request) => unknown): Promise<void> {
  const response = await handler(requestOf(session));
  if (!(response instanceof Response)) {
    throw new TypeError(`an HTTP handler returns a Response, and this one returned ${String(response)}`);
  }
  const headers = [...response.headers];
  const body = response.rawBody;
  if (!(body instanceof ReadableStream)) {
    native.respond(response.status, headers, body ?? new Uint8Array(0));
    return;
  }
  native.respondStream(response.status, headers);
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    if (!native.write(value instanceof Uint8Array || typeof value === "string" ? value : String(value))) {
      // The client has gone: let the producer stop.
      await reader.cancel("the client disconnected");
      return;
    }
  }
}

export async function serveWebSocket(session: Session, handler: unknown): Promise<void> {
  if (!isWebSocket(handler)) {
    throw new TypeError("a WebSocket component's default export is websocket({ open, message }) from rusm-ts");
  }
  const socket = session.socket as bigint;
  const client: Socket = {
    send: (data) => native.sendFrame(data instanceof ArrayBuffer ? new Uint8Array(data) : data),
    request: requestOf(session),
  };
  await handler.open?.(client);
  for (;;) {
    // Frames come from the socket process; anything else stays for receive().
    const frame = (await take((m) => m.kind === "data" && m.from === socket)) as DataMessage;
    // One tag byte (0 text, 1 binary), then the payload.
    const bytes = frame.bytes ?? native.utf8Encode(frame.raw);
    const data = bytes[0] === 0 ? native.utf8Decode(bytes.subarray(1)) : bytes.slice(1);
    await handler.message?.(client, data);
  }
}
