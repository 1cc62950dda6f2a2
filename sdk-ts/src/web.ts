// The web-standard classes a handler expects as globals, where the
// runner's QuickJS has none of its own: TextEncoder/TextDecoder, URL,
// URLSearchParams, Headers, Request, Response, ReadableStream, atob/btoa,
// DOMException and Web Crypto (`crypto`).

import { atob, btoa, DOMException } from "./web/base64";
import { CryptoKey, crypto, SubtleCrypto } from "./web/crypto";
import { TextDecoder, TextEncoder } from "./web/encoding";
import { Request, Response } from "./web/fetch";
import { Headers } from "./web/headers";
import { ReadableStream, ReadableStreamDefaultController, ReadableStreamDefaultReader } from "./web/streams";
import { URL, URLSearchParams } from "./web/url";

const globals: Record<string, unknown> = {
  atob,
  btoa,
  DOMException,
  crypto,
  CryptoKey,
  SubtleCrypto,
  TextEncoder,
  TextDecoder,
  URL,
  URLSearchParams,
  Headers,
  Request,
  Response,
  ReadableStream,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
};

export function installWebGlobals(): void {
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
}
