// atob and btoa (Latin-1 strings, as the web has them), and the base64url
// of bytes that JWKs use.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function btoa(data: string): string {
  data = String(data);
  let out = "";
  for (let i = 0; i < data.length; i += 3) {
    const codes = [0, 1, 2].map((k) => data.charCodeAt(i + k));
    for (const c of codes) {
      if (c > 0xff) throw new DOMException("btoa: the string has characters outside Latin-1", "InvalidCharacterError");
    }
    const [a, b, c] = codes;
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    out += Number.isNaN(b) ? "=" : ALPHABET[(n >> 6) & 63];
    out += Number.isNaN(c) ? "=" : ALPHABET[n & 63];
  }
  return out;
}

export function atob(data: string): string {
  const clean = String(data).replace(/[\t\n\f\r ]/g, "");
  const unpadded = clean.length % 4 === 0 ? clean.replace(/={1,2}$/, "") : clean;
  if (unpadded.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(unpadded)) {
    throw new DOMException("atob: not valid base64", "InvalidCharacterError");
  }
  let out = "";
  let bits = 0;
  let buffer = 0;
  for (const ch of unpadded) {
    buffer = (buffer << 6) | ALPHABET.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}

export function toBase64Url(bytes: Uint8Array): string {
  let latin1 = "";
  for (const b of bytes) latin1 += String.fromCharCode(b);
  return btoa(latin1).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array {
  const latin1 = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(latin1, (c) => c.charCodeAt(0));
}

/** DOMException, where the engine has none: an Error with a name. */
export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
}
