// Request and Response, the fetch standard's shapes for a handler: a body
// of text, bytes, URLSearchParams or a ReadableStream, read once as text,
// JSON, bytes or a stream.

import { Headers, type HeadersInit } from "./headers";
import { ReadableStream } from "./streams";
import { URL, URLSearchParams } from "./url";

export type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams | ReadableStream<Uint8Array | string> | null;

/** A body as it was given, with the content type it implies. */
function extract(body: BodyInit | undefined): { body: Uint8Array | ReadableStream<Uint8Array | string> | null; type: string | null } {
  if (body === null || body === undefined) return { body: null, type: null };
  if (typeof body === "string") return { body: new TextEncoder().encode(body), type: "text/plain;charset=UTF-8" };
  if (body instanceof URLSearchParams) {
    return { body: new TextEncoder().encode(body.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  if (body instanceof ReadableStream) return { body, type: null };
  if (body instanceof ArrayBuffer) return { body: new Uint8Array(body.slice(0)), type: null };
  if (ArrayBuffer.isView(body)) {
    return { body: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), type: null };
  }
  return { body: new TextEncoder().encode(String(body)), type: "text/plain;charset=UTF-8" };
}

abstract class Body {
  #body: Uint8Array | ReadableStream<Uint8Array | string> | null;
  #used = false;

  constructor(body: Uint8Array | ReadableStream<Uint8Array | string> | null) {
    this.#body = body;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** The body as a stream (a whole body becomes a one-chunk stream). */
  get body(): ReadableStream<Uint8Array | string> | null {
    const body = this.#body;
    if (body === null || body instanceof ReadableStream) return body;
    this.#body = ReadableStream.from<Uint8Array | string>([body]);
    return this.#body;
  }

  /** What the host needs: the whole body, or the stream to pump. */
  get rawBody(): Uint8Array | ReadableStream<Uint8Array | string> | null {
    return this.#body;
  }

  async bytes(): Promise<Uint8Array> {
    if (this.#used) throw new TypeError("the body was already read");
    this.#used = true;
    const body = this.#body;
    if (body === null) return new Uint8Array(0);
    if (!(body instanceof ReadableStream)) return body;
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async formData(): Promise<never> {
    throw new TypeError("formData() is not supported in rusm; read text() and parse it with URLSearchParams");
  }
}

export interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
}

const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"];

export class Request extends Body {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;

  constructor(input: string | URL | Request, init: RequestInit = {}) {
    const from = input instanceof Request ? input : null;
    const { body, type } = extract(init.body !== undefined ? init.body : (from?.rawBody as BodyInit | undefined));
    super(body);
    const method = init.method ?? from?.method ?? "GET";
    this.method = METHODS.includes(method.toUpperCase()) ? method.toUpperCase() : method;
    if ((this.method === "GET" || this.method === "HEAD") && body !== null) {
      throw new TypeError(`a ${this.method} request has no body`);
    }
    this.url = from ? from.url : new URL(String(input)).href;
    this.headers = new Headers(init.headers ?? from?.headers);
    if (type && !this.headers.has("content-type")) this.headers.set("content-type", type);
  }

  clone(): Request {
    if (this.rawBody instanceof ReadableStream) throw new TypeError("a streamed request cannot be cloned");
    return new Request(this);
  }
}

export interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

export class Response extends Body {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly type = "default";
  readonly redirected = false;
  readonly url = "";

  constructor(body?: BodyInit, init: ResponseInit = {}) {
    const { body: extracted, type } = extract(body);
    super(extracted);
    this.status = init.status ?? 200;
    if (!Number.isInteger(this.status) || this.status < 200 || this.status > 599) {
      throw new RangeError(`a response status is 200 to 599, not ${init.status}`);
    }
    this.statusText = init.statusText ?? "";
    this.headers = new Headers(init.headers);
    if (type && !this.headers.has("content-type")) this.headers.set("content-type", type);
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  static json(data: unknown, init: ResponseInit = {}): Response {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }

  static redirect(url: string | URL, status = 302): Response {
    if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError(`not a redirect status: ${status}`);
    return new Response(null, { status, headers: { location: new URL(String(url)).href } });
  }

  clone(): Response {
    if (this.rawBody instanceof ReadableStream) throw new TypeError("a streamed response cannot be cloned");
    return new Response(this.rawBody as Uint8Array | null, this);
  }
}
