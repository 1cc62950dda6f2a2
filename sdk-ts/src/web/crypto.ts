// Web Crypto: `crypto.getRandomValues`, `crypto.randomUUID` (WASI's
// randomness, which the node seeds: deterministic under simulation) and the
// part of `crypto.subtle` that signing and encryption libraries use, with
// the host computing every primitive (RustCrypto, the crypto import):
// digest (SHA-1/256/384/512), HMAC (importKey, generateKey, exportKey,
// sign, verify) and AES-GCM (96-bit IVs, 128-bit tags). Keys are raw bytes
// or JWKs of type "oct".

import { native } from "../natives";
import { DOMException, fromBase64Url, toBase64Url } from "./base64";

type BufferSource = ArrayBuffer | ArrayBufferView;
type Algorithm = string | { name: string; [member: string]: unknown };
type KeyUsage = "encrypt" | "decrypt" | "sign" | "verify";

interface KeyAlgorithm {
  name: string;
  hash?: { name: string };
  length: number;
}

interface JsonWebKey {
  kty?: string;
  k?: string;
  alg?: string;
  ext?: boolean;
  key_ops?: string[];
}

function bytes(data: BufferSource): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected an ArrayBuffer or a typed array");
}

/** Web Crypto answers with ArrayBuffers. */
function buffer(out: Uint8Array): ArrayBuffer {
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
}

function nameOf(algorithm: Algorithm): string {
  const name = typeof algorithm === "string" ? algorithm : algorithm?.name;
  if (typeof name !== "string") throw new TypeError("an algorithm has a name");
  const known = ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "HMAC", "AES-GCM"].find((n) => n === name.toUpperCase());
  if (!known) throw new DOMException(`unsupported algorithm ${name}`, "NotSupportedError");
  return known;
}

function member<T>(algorithm: Algorithm, name: string): T | undefined {
  return typeof algorithm === "string" ? undefined : (algorithm[name] as T | undefined);
}

/** A key: what it is for, and (out of reach of the program) its bytes. */
export class CryptoKey {
  readonly type = "secret";
  constructor(
    readonly algorithm: KeyAlgorithm,
    readonly extractable: boolean,
    readonly usages: KeyUsage[],
  ) {}
}

const secrets = new WeakMap<CryptoKey, Uint8Array>();

function secretOf(key: CryptoKey, algorithm: string, usage: KeyUsage): Uint8Array {
  const secret = key instanceof CryptoKey ? secrets.get(key) : undefined;
  if (!secret) throw new TypeError("expected a CryptoKey");
  if (key.algorithm.name !== algorithm) {
    throw new DOMException(`the key is for ${key.algorithm.name}, not ${algorithm}`, "InvalidAccessError");
  }
  if (!key.usages.includes(usage)) throw new DOMException(`the key may not ${usage}`, "InvalidAccessError");
  return secret;
}

/** HMAC's default key length: the hash's block size. */
const BLOCK_BITS: Record<string, number> = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };

function makeKey(algorithm: Algorithm, secret: Uint8Array, extractable: boolean, usages: KeyUsage[]): CryptoKey {
  const name = nameOf(algorithm);
  let keyAlgorithm: KeyAlgorithm;
  if (name === "HMAC") {
    const hash = nameOf(member<Algorithm>(algorithm, "hash") ?? "");
    if (secret.length === 0) throw new DOMException("an HMAC key is not empty", "DataError");
    keyAlgorithm = { name, hash: { name: hash }, length: secret.length * 8 };
  } else if (name === "AES-GCM") {
    if (![16, 24, 32].includes(secret.length)) {
      throw new DOMException(`an AES key is 128, 192 or 256 bits, not ${secret.length * 8}`, "DataError");
    }
    keyAlgorithm = { name, length: secret.length * 8 };
  } else {
    throw new DOMException(`${name} has no keys`, "NotSupportedError");
  }
  const key = new CryptoKey(keyAlgorithm, extractable, [...usages]);
  secrets.set(key, secret.slice());
  return key;
}

function gcmParams(algorithm: Algorithm): { iv: Uint8Array; aad: Uint8Array } {
  const iv = member<BufferSource>(algorithm, "iv");
  if (!iv) throw new TypeError("AES-GCM needs an iv");
  const tagLength = member<number>(algorithm, "tagLength") ?? 128;
  if (tagLength !== 128) throw new DOMException("rusm's AES-GCM uses 128-bit tags", "NotSupportedError");
  const aad = member<BufferSource>(algorithm, "additionalData");
  return { iv: bytes(iv), aad: aad ? bytes(aad) : new Uint8Array(0) };
}

/** The host's refusal as the DOMException Web Crypto throws. */
function operation<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new DOMException((e as Error).message, "OperationError");
  }
}

export class SubtleCrypto {
  async digest(algorithm: Algorithm, data: BufferSource): Promise<ArrayBuffer> {
    return buffer(native.digest(nameOf(algorithm), bytes(data)));
  }

  async importKey(
    format: "raw" | "jwk",
    keyData: BufferSource | JsonWebKey,
    algorithm: Algorithm,
    extractable: boolean,
    usages: KeyUsage[],
  ): Promise<CryptoKey> {
    if (format === "raw") return makeKey(algorithm, bytes(keyData as BufferSource), extractable, usages);
    if (format === "jwk") {
      const jwk = keyData as JsonWebKey;
      if (jwk.kty !== "oct" || typeof jwk.k !== "string") throw new DOMException("only JWKs of kty oct", "DataError");
      return makeKey(algorithm, fromBase64Url(jwk.k), extractable, usages);
    }
    throw new DOMException(`unsupported key format ${format}`, "NotSupportedError");
  }

  async exportKey(format: "raw" | "jwk", key: CryptoKey): Promise<ArrayBuffer | JsonWebKey> {
    const secret = key instanceof CryptoKey ? secrets.get(key) : undefined;
    if (!secret) throw new TypeError("expected a CryptoKey");
    if (!key.extractable) throw new DOMException("the key is not extractable", "InvalidAccessError");
    if (format === "raw") return buffer(secret);
    if (format === "jwk") {
      const { name, hash } = key.algorithm;
      const alg =
        name === "HMAC" ? `HS${(hash?.name ?? "SHA-256").slice(4)}` : `A${key.algorithm.length}GCM`;
      return { kty: "oct", k: toBase64Url(secret), alg, ext: true, key_ops: [...key.usages] };
    }
    throw new DOMException(`unsupported key format ${format}`, "NotSupportedError");
  }

  async generateKey(algorithm: Algorithm, extractable: boolean, usages: KeyUsage[]): Promise<CryptoKey> {
    const name = nameOf(algorithm);
    const length =
      member<number>(algorithm, "length") ??
      (name === "HMAC" ? BLOCK_BITS[nameOf(member<Algorithm>(algorithm, "hash") ?? "")] : undefined);
    if (!length || length % 8 !== 0) throw new DOMException("a key length in whole bytes", "OperationError");
    return makeKey(algorithm, native.randomBytes(length / 8), extractable, usages);
  }

  async sign(algorithm: Algorithm, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    const secret = secretOf(key, nameOf(algorithm), "sign");
    const hash = key.algorithm.hash?.name as string;
    return buffer(operation(() => native.hmacSign(hash, secret, bytes(data))));
  }

  async verify(algorithm: Algorithm, key: CryptoKey, signature: BufferSource, data: BufferSource): Promise<boolean> {
    const secret = secretOf(key, nameOf(algorithm), "verify");
    const hash = key.algorithm.hash?.name as string;
    return operation(() => native.hmacVerify(hash, secret, bytes(data), bytes(signature)));
  }

  async encrypt(algorithm: Algorithm, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    const secret = secretOf(key, nameOf(algorithm), "encrypt");
    const { iv, aad } = gcmParams(algorithm);
    return buffer(operation(() => native.aesGcmEncrypt(secret, iv, aad, bytes(data))));
  }

  async decrypt(algorithm: Algorithm, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    const secret = secretOf(key, nameOf(algorithm), "decrypt");
    const { iv, aad } = gcmParams(algorithm);
    return buffer(operation(() => native.aesGcmDecrypt(secret, iv, aad, bytes(data))));
  }
}

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

export const crypto = {
  subtle: new SubtleCrypto(),

  /** Fills an integer typed array with random bytes (at most 65536). */
  getRandomValues<T extends ArrayBufferView>(array: T): T {
    if (!INTEGER_ARRAYS.some((type) => array instanceof type)) {
      throw new DOMException("getRandomValues fills integer typed arrays", "TypeMismatchError");
    }
    if (array.byteLength > 65536) throw new DOMException("at most 65536 bytes at a time", "QuotaExceededError");
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(native.randomBytes(array.byteLength));
    return array;
  },

  /** A random (version 4) UUID. */
  randomUUID(): string {
    const b = native.randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};
