// crypto.subtle against published vectors. Each check prints one line;
// the first mismatch throws, so the process traps and the run fails.

const hex = (data: ArrayBuffer | Uint8Array): string =>
  Array.from(data instanceof Uint8Array ? data : new Uint8Array(data), (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.from(text.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
const text = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(new TextEncoder().encode(s));
const repeat = (byte: number, n: number): Uint8Array<ArrayBuffer> => new Uint8Array(n).fill(byte);

let passed = 0;
function check(what: string, got: string | boolean, want: string | boolean): void {
  if (got !== want) throw new Error(`${what}: expected ${want}, got ${got}`);
  passed++;
}

const TWO_BLOCKS = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

// FIPS 180-2's examples.
const digests: [string, string, string][] = [
  ["SHA-1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
  ["SHA-1", TWO_BLOCKS, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"],
  ["SHA-256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["SHA-256", TWO_BLOCKS, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
  ["SHA-256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["SHA-384", "abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"],
  [
    "SHA-512",
    "abc",
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
  ],
];

// RFC 4231 (test cases 1, 2, 3, 6) and RFC 2202 (HMAC-SHA-1, test case 2).
const JEFE: [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>] = [text("Jefe"), text("what do ya want for nothing?")];
const hmacs: [string, Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>, string][] = [
  ["SHA-256", repeat(0x0b, 20), text("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
  [
    "SHA-384",
    repeat(0x0b, 20),
    text("Hi There"),
    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
  ],
  [
    "SHA-512",
    repeat(0x0b, 20),
    text("Hi There"),
    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
  ],
  ["SHA-256", ...JEFE, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
  ["SHA-384", ...JEFE, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"],
  [
    "SHA-512",
    ...JEFE,
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
  ],
  ["SHA-256", repeat(0xaa, 20), repeat(0xdd, 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
  [
    "SHA-256",
    repeat(0xaa, 131),
    text("Test Using Larger Than Block-Size Key - Hash Key First"),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  ],
  ["SHA-1", ...JEFE, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"],
];

// The GCM specification's test cases 2, 3, 4 (AES-128) and 14, 16 (AES-256).
const P3 =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const K = "feffe9928665731c6d6a8f9467308308";
const IV = "cafebabefacedbaddecaf888";
const AAD = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const gcms: [string, string, string, string, string, string][] = [
  ["00".repeat(16), "00".repeat(12), "", "00".repeat(16), "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"],
  [
    K,
    IV,
    "",
    P3,
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
    "4d5c2af327cd64a62cf35abd2ba6fab4",
  ],
  [
    K,
    IV,
    AAD,
    P3.slice(0, 120),
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    "5bc94fbc3221a5db94fae95ae7121a47",
  ],
  ["00".repeat(32), "00".repeat(12), "", "00".repeat(16), "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"],
  [
    K + K,
    IV,
    AAD,
    P3.slice(0, 120),
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "76fc6ece0f4e1768cddf8853bb2d551b",
  ],
];

export default async function main() {
  const { subtle } = crypto;
  for (const [hash, input, want] of digests) {
    check(`digest ${hash}(${JSON.stringify(input.slice(0, 8))}…)`, hex(await subtle.digest(hash, text(input))), want);
  }
  console.log(`digests: ${digests.length} vectors`);

  for (const [hash, key, data, want] of hmacs) {
    const imported = await subtle.importKey("raw", key, { name: "HMAC", hash }, false, ["sign", "verify"]);
    const signature = await subtle.sign("HMAC", imported, data);
    check(`HMAC-${hash}`, hex(signature), want);
    check(`HMAC-${hash} verifies`, await subtle.verify("HMAC", imported, signature, data), true);
    const forged = new Uint8Array(signature);
    forged[0] ^= 1;
    check(`HMAC-${hash} refuses a changed signature`, await subtle.verify("HMAC", imported, forged, data), false);
  }
  console.log(`hmac: ${hmacs.length} vectors, each verified and a forgery refused`);

  for (const [key, iv, aad, plain, cipher, tag] of gcms) {
    const imported = await subtle.importKey("raw", fromHex(key), "AES-GCM", true, ["encrypt", "decrypt"]);
    const params = { name: "AES-GCM", iv: fromHex(iv), additionalData: fromHex(aad) };
    const sealed = await subtle.encrypt(params, imported, fromHex(plain));
    check(`AES-${key.length * 4}-GCM encrypt`, hex(sealed), cipher + tag);
    check(`AES-${key.length * 4}-GCM decrypt`, hex(await subtle.decrypt(params, imported, sealed)), plain);
    const tampered = new Uint8Array(sealed);
    tampered[tampered.length - 1] ^= 1;
    const refused = await subtle.decrypt(params, imported, tampered).then(
      () => "decrypted",
      (e: Error) => `${e.name}: ${e.message}`,
    );
    check(`AES-GCM refuses a changed tag`, refused.startsWith("OperationError: the AES-GCM tag does not authenticate"), true);
  }
  console.log(`aes-gcm: ${gcms.length} vectors, each decrypted back and a changed tag refused`);

  // Keys: generated, exported as a JWK, imported back; usages enforced.
  const generated = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const algorithm = generated.algorithm as HmacKeyAlgorithm;
  check("a generated HMAC key has the block size", algorithm.length === 512, true);
  const jwk = (await subtle.exportKey("jwk", generated)) as { kty: string; alg: string; k: string };
  check("its JWK", `${jwk.kty} ${jwk.alg} ${jwk.k.length}`, "oct HS256 86");
  const back = await subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  check(
    "the JWK signs like the key",
    hex(await subtle.sign("HMAC", back, text("x"))),
    hex(await subtle.sign("HMAC", generated, text("x"))),
  );
  const misuse = await subtle.verify("HMAC", back, new Uint8Array(32), text("x")).then(
    () => "verified",
    (e: Error) => e.name,
  );
  check("a sign-only key may not verify", misuse, "InvalidAccessError");

  // Randomness: WASI's, which the node seeds.
  const a = crypto.getRandomValues(new Uint8Array(32));
  const b = crypto.getRandomValues(new Uint32Array(8));
  check("random values differ", hex(a) !== hex(new Uint8Array(b.buffer)), true);
  const uuid = crypto.randomUUID();
  check("a version 4 UUID", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid), true);
  check("btoa/atob", atob(btoa("rusm\u00ff")), "rusm\u00ff");
  console.log(`crypto vectors: ${passed} checks passed`);
}
