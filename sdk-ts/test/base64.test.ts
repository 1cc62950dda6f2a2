// rusm-ts's atob/btoa against Bun's, and base64url round trips.
import { expect, test } from "bun:test";
import { atob as ourAtob, btoa as ourBtoa, fromBase64Url, toBase64Url } from "../src/web/base64";

test("btoa and atob agree with Bun's", () => {
  for (const s of ["", "f", "fo", "foo", "foob", "fooba", "foobar", "rusm\u00ff\u0000\u0080", "a".repeat(100)]) {
    expect(ourBtoa(s)).toBe(btoa(s));
    expect(ourAtob(btoa(s))).toBe(s);
  }
  for (const bad of ["abc=d", "a", "@@@@", "ab=c"]) {
    expect(() => atob(bad)).toThrow();
    expect(() => ourAtob(bad)).toThrow();
  }
  expect(ourAtob(" Zm9v YmFy ")).toBe(atob(" Zm9v YmFy "));
  expect(ourAtob("Zm9vYg")).toBe(atob("Zm9vYg"));
  expect(() => ourBtoa("\u0100")).toThrow();
});

test("base64url round-trips bytes", () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = toBase64Url(bytes);
  expect(text).not.toMatch(/[+/=]/);
  expect(Array.from(fromBase64Url(text))).toEqual(Array.from(bytes));
});
