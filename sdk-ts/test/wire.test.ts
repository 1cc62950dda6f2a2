// rusm-ts speaks the wire byte for byte like rusm-wire: the same vectors.
import { expect, test } from "bun:test";
import vectors from "../../sdk-rs/wire/vectors/envelopes.json";
import { decode, encode, type Envelope, WireError } from "../src/wire";

for (const v of vectors.valid) {
  test(`valid: ${v.name}`, () => {
    const envelope = decode(v.bytes);
    expect(envelope).toEqual(v.members as Envelope);
    expect(encode(envelope)).toBe(v.bytes);
    expect(encode(v.members as Envelope)).toBe(v.bytes);
    for (const other of v.also ?? []) {
      expect(decode(other)).toEqual(v.members as Envelope);
      expect(encode(decode(other))).toBe(v.bytes);
    }
  });
}

for (const v of vectors.invalid) {
  test(`invalid: ${v.name}`, () => {
    let error: unknown;
    try {
      decode(v.bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WireError);
    expect((error as WireError).kind).toBe(v.error as WireError["kind"]);
  });
}
