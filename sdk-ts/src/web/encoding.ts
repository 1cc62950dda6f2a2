// TextEncoder and TextDecoder (UTF-8, the only encoding the web requires
// everywhere), over the runner's native UTF-8 conversion.

import { native } from "../natives";

export class TextEncoder {
  readonly encoding = "utf-8";
  encode(input = ""): Uint8Array {
    return native.utf8Encode(String(input));
  }
}

export class TextDecoder {
  readonly encoding = "utf-8";
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    if (!/^\s*(utf-?8|unicode-1-1-utf-8)\s*$/i.test(label)) {
      throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`);
    }
    this.fatal = options.fatal ?? false;
    this.ignoreBOM = options.ignoreBOM ?? false;
  }
  /** The start of an incomplete UTF-8 sequence held back by a streaming decode. */
  #pending: Uint8Array | null = null;
  /** Whether this stream's text has begun (a BOM is stripped only there). */
  #begun = false;

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    let bytes =
      input === undefined
        ? new Uint8Array(0)
        : input instanceof Uint8Array
          ? input
          : ArrayBuffer.isView(input)
            ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
            : new Uint8Array(input);
    if (this.#pending) {
      const joined = new Uint8Array(this.#pending.length + bytes.length);
      joined.set(this.#pending);
      joined.set(bytes, this.#pending.length);
      bytes = joined;
      this.#pending = null;
    }
    if (options.stream) {
      const whole = completeLength(bytes);
      if (whole < bytes.length) {
        this.#pending = bytes.slice(whole);
        bytes = bytes.subarray(0, whole);
      }
    }
    let text = bytes.length === 0 ? "" : native.utf8Decode(bytes, this.fatal);
    if (!this.#begun && text.length > 0) {
      this.#begun = true;
      if (!this.ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!options.stream) this.#begun = false;
    return text;
  }
}

/** How many leading bytes hold only whole UTF-8 sequences (the rest may be the start of one split across chunks). */
function completeLength(bytes: Uint8Array): number {
  let start = bytes.length - 1;
  // Back over at most three continuation bytes to the sequence's lead.
  while (start >= 0 && bytes.length - start <= 3 && (bytes[start] & 0xc0) === 0x80) start--;
  if (start < 0) return bytes.length;
  const lead = bytes[start];
  const needs = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - start < needs ? start : bytes.length;
}
