// The web-standard classes a handler expects as globals, where the
// runner's QuickJS has none of its own: TextEncoder/TextDecoder, URL,
// URLSearchParams, Headers, Request, Response, ReadableStream, atob/btoa,
// DOMException, Web Crypto (`crypto`), the outbound `fetch`, Event,
// EventTarget, AbortController/AbortSignal, FormData and structuredClone.

import { AbortController, AbortSignal, Event, EventTarget } from "./web/abort";
import { atob, btoa, DOMException } from "./web/base64";
import { FormData, structuredClone } from "./web/clone";
import { CryptoKey, crypto, SubtleCrypto } from "./web/crypto";
import { TextDecoder, TextEncoder } from "./web/encoding";
import { Request, Response } from "./web/fetch";
import { Headers } from "./web/headers";
import { fetch } from "./web/outbound";
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
  fetch,
  AbortController,
  AbortSignal,
  Event,
  EventTarget,
  FormData,
  structuredClone,
};

export function installWebGlobals(): void {
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
}
