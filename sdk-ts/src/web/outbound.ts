// The global `fetch`: an outbound request carried by a fetch process of the
// node (the `rusm:runtime/fetch` import). Its messages wait in this
// process's mailbox like any other, so a request never blocks the event
// loop: timers, receives and other requests go on meanwhile. The
// component needs the hosts it reaches in its profile
// (`[capabilities.<name>] fetch = ["api.example.com"]`); a refusal, a
// network failure or a broken body rejects with a TypeError that says
// what happened.

import { type Message, take } from "../mailbox";
import { native } from "../natives";
import { AbortSignal } from "./abort";
import { DOMException } from "./base64";
import { type BodyInit, Request, type RequestInit, Response } from "./fetch";
import { ReadableStream } from "./streams";
import { URL } from "./url";

/** Message tags, as the WIT file's `fetch` interface defines them. */
const HEAD = 0;
const CHUNK = 1;
const END = 2;
const ERROR = 3;
const SENT = 4;
const ORDER_CHUNK = 0;
const ORDER_END = 1;
const ORDER_READ = 2;
const ORDER_ABORT = 3;

/** Request body pieces per message (the node's message limit is larger). */
const UPLOAD_PIECE = 64 * 1024;

export interface FetchInit extends RequestInit {
  signal?: AbortSignal | null;
  redirect?: "follow" | "manual" | "error";
}

interface Head {
  status: number;
  "status-text": string;
  headers: [string, string][];
  url: string;
  redirected: boolean;
}

export async function fetch(input: string | URL | Request, init: FetchInit = {}): Promise<Response> {
  const request = new Request(input, init);
  const signal = init.signal ?? null;
  signal?.throwIfAborted();
  const body = request.rawBody;
  const streamed = body instanceof ReadableStream;
  const url = new URL(request.url);
  url.hash = "";
  let carrier: bigint;
  try {
    carrier = native.fetchStart(
      request.method,
      url.href,
      [...request.headers],
      streamed ? null : body,
      streamed,
      init.redirect ?? "follow",
    );
  } catch (e) {
    throw new TypeError((e as Error).message);
  }
  const exchange = new Exchange(carrier, signal);
  try {
    if (streamed) await exchange.upload(body);
    const head = await exchange.head();
    return exchange.response(head);
  } catch (e) {
    exchange.abort();
    throw e;
  }
}

/** This process's side of one request: the fetch process's messages, in order. */
class Exchange {
  readonly #carrier: bigint;
  readonly #monitor: bigint;
  readonly #signal: AbortSignal | null;
  /** A message that came while uploading, for whoever reads next. */
  #early: Uint8Array | null = null;
  #over = false;
  #aborted: Promise<never>;

  constructor(carrier: bigint, signal: AbortSignal | null) {
    this.#carrier = carrier;
    this.#monitor = native.monitor(carrier);
    this.#signal = signal;
    this.#aborted = new Promise<never>((_, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    // Nobody may be waiting when it fires: an unhandled rejection would end the process.
    this.#aborted.catch(() => {});
  }

  /** Streams a request body, one piece at a time, each taken before the next goes. */
  async upload(body: ReadableStream<Uint8Array | string>): Promise<void> {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const bytes = typeof value === "string" ? native.utf8Encode(value) : value;
        for (let at = 0; at < bytes.length; at += UPLOAD_PIECE) {
          this.#order(ORDER_CHUNK, bytes.subarray(at, at + UPLOAD_PIECE));
          const reply = await this.#next();
          if (reply[0] !== SENT) {
            // The server answered (or failed) before taking the whole body.
            this.#early = reply;
            await reader.cancel();
            return;
          }
        }
      }
      this.#order(ORDER_END);
    } finally {
      reader.releaseLock();
    }
  }

  async head(): Promise<Head> {
    const message = this.#early ?? (await this.#next());
    this.#early = null;
    if (message[0] === HEAD) return JSON.parse(native.utf8Decode(message.subarray(1))) as Head;
    throw this.#failure(message);
  }

  response(head: Head): Response {
    const nullBody = [101, 204, 205, 304].includes(head.status);
    const stream = nullBody
      ? null
      : new ReadableStream<Uint8Array | string>({
          pull: async (controller) => {
            this.#order(ORDER_READ);
            let message = await this.#next();
            // A late receipt for an upload the server cut short.
            while (message[0] === SENT) message = await this.#next();
            if (message[0] === CHUNK) controller.enqueue(message.slice(1));
            else if (message[0] === END) {
              this.#finish();
              controller.close();
            } else throw this.#failure(message);
          },
          cancel: () => this.abort(),
        });
    if (nullBody) this.abort();
    const response = new Response(stream, {
      status: Math.min(Math.max(head.status, 200), 599),
      statusText: head["status-text"],
      headers: head.headers,
    });
    // A fetched response keeps what the server sent, whatever a constructed one allows.
    Object.defineProperties(response, {
      status: { value: head.status },
      url: { value: head.url },
      redirected: { value: head.redirected },
      type: { value: "basic" },
    });
    return response;
  }

  /** Drops the request (if it is still going) and forgets its messages. */
  abort(): void {
    if (this.#over) return;
    this.#order(ORDER_ABORT);
    this.#finish();
  }

  /** The request is over: what the fetch process still says, up to its end, is taken and dropped. */
  #finish(): void {
    if (this.#over) return;
    this.#over = true;
    const drain = async (): Promise<void> => {
      for (;;) {
        const message = await take((m) => this.#mine(m));
        if (message?.kind !== "data") return;
      }
    };
    void drain();
  }

  #order(tag: number, payload?: Uint8Array): void {
    const bytes = new Uint8Array(1 + (payload?.length ?? 0));
    bytes[0] = tag;
    if (payload) bytes.set(payload, 1);
    native.send(this.#carrier, bytes);
  }

  #mine(m: Message): boolean {
    return (m.kind === "data" && m.from === this.#carrier) || (m.kind === "down" && m.ref === this.#monitor);
  }

  /** The fetch process's next message, as bytes; a `down` or an abort throws. */
  async #next(): Promise<Uint8Array> {
    const message = await Promise.race([take((m) => this.#mine(m)), this.#aborted]);
    if (message?.kind === "data") return message.bytes ?? native.utf8Encode(message.raw);
    // Its `down` is taken: nothing of the request is left to drain.
    this.#over = true;
    const reason = message?.kind === "down" ? message.reason : "gone";
    throw new TypeError(`fetch: the fetch process ended (${reason}) before the response did`);
  }

  #failure(message: Uint8Array): Error {
    if (message[0] === ERROR) {
      // The fetch process ends after an error: its `down` is taken here,
      // never left for the process's own receive.
      this.#finish();
      return new TypeError(native.utf8Decode(message.subarray(1)));
    }
    return new TypeError(`fetch: unexpected message ${message[0]} from the fetch process`);
  }
}

export type { BodyInit };
export { DOMException };
