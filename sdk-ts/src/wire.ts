// The service wire, version 1 (docs/wire.md): envelopes, their canonical
// bytes, and the checks a decoder makes, in the order the spec gives.
// Tested against the same vectors as rusm-wire (sdk-rs/wire/vectors/).

export type ErrorCode =
  | "unknown-method"
  | "bad-arguments"
  | "unknown-callback"
  | "service-died"
  | "timeout"
  | "bad-reply";

const ERROR_CODES: readonly string[] = [
  "unknown-method",
  "bad-arguments",
  "unknown-callback",
  "service-died",
  "timeout",
  "bad-reply",
];

export type Envelope =
  | { kind: "call"; id: number; method: string; args: unknown[] }
  | { kind: "cast"; method: string; args: unknown[] }
  | { kind: "reply"; id: number; value: unknown }
  | { kind: "item"; id: number; value: unknown }
  | { kind: "end"; id: number }
  | { kind: "callback"; id: number; callback: number; seq: number; args: unknown[] }
  | { kind: "callback-reply"; id: number; seq: number; value: unknown }
  | { kind: "error"; id: number; seq?: number; code: ErrorCode; message: string };

/** Why bytes that claim to be an envelope were rejected. */
export type WireErrorKind =
  | "not-json"
  | "not-an-envelope"
  | "unsupported-version"
  | "unknown-kind"
  | "unexpected-field"
  | "missing-field"
  | "bad-field";

export class WireError extends Error {
  constructor(
    readonly kind: WireErrorKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
    this.name = "WireError";
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const MAX_CALLBACK = 2 ** 32 - 1;

type Check = (value: unknown) => boolean;
const id: Check = (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_ID;
const callbackNumber: Check = (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_CALLBACK;
const method: Check = (v) => typeof v === "string" && v.length > 0 && utf8Length(v) <= 128;
const array: Check = (v) => Array.isArray(v);
const any: Check = () => true;
const code: Check = (v) => typeof v === "string" && ERROR_CODES.includes(v);
const text: Check = (v) => typeof v === "string";

/** Each kind's members in canonical order, with their checks; `?` marks the optional one. */
const KINDS: Record<string, [string, Check][]> = {
  call: [["id", id], ["method", method], ["args", array]],
  cast: [["method", method], ["args", array]],
  reply: [["id", id], ["value", any]],
  item: [["id", id], ["value", any]],
  end: [["id", id]],
  callback: [["id", id], ["callback", callbackNumber], ["seq", id], ["args", array]],
  "callback-reply": [["id", id], ["seq", id], ["value", any]],
  error: [["id", id], ["seq?", id], ["code", code], ["message", text]],
};

/** The canonical bytes of an envelope: compact, members in the spec's order. */
export function encode(envelope: Envelope): string {
  const members = KINDS[envelope.kind];
  const record = envelope as Record<string, unknown>;
  let out = `{"rusm":1,"kind":${JSON.stringify(envelope.kind)}`;
  for (const [spec] of members) {
    const name = spec.replace("?", "");
    if (record[name] === undefined) {
      if (spec.endsWith("?")) continue;
      throw new WireError("missing-field", `${envelope.kind} needs ${name}`);
    }
    out += `,${JSON.stringify(name)}:${json(record[name])}`;
  }
  return `${out}}`;
}

/** A value as JSON; bigints (pids) as numbers, since the wire is JSON. */
export function json(value: unknown): string {
  const text = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v));
  return text === undefined ? "null" : text;
}

/** Whether `text` claims to be an envelope: cheap, before a full decode. */
export function looksLikeEnvelope(text: string): boolean {
  return text.includes('"rusm"');
}

/** Decodes an envelope, or throws the spec's error for it. */
export function decode(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new WireError("not-json", String(e));
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || !("rusm" in value)) {
    throw new WireError("not-an-envelope", "not an object with a rusm member");
  }
  const record = value as Record<string, unknown>;
  if (record.rusm !== 1) throw new WireError("unsupported-version", `rusm is ${JSON.stringify(record.rusm)}`);
  const kind = record.kind;
  if (typeof kind !== "string" || !Object.hasOwn(KINDS, kind)) {
    throw new WireError("unknown-kind", `kind ${JSON.stringify(kind)}`);
  }
  const members = KINDS[kind];
  const allowed = new Set(["rusm", "kind", ...members.map(([spec]) => spec.replace("?", ""))]);
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (!allowed.has(key) || seen.has(key)) throw new WireError("unexpected-field", `${kind} has no ${key} (or has it twice)`);
    seen.add(key);
  }
  for (const [spec] of members) {
    if (!spec.endsWith("?") && !seen.has(spec)) throw new WireError("missing-field", `${kind} needs ${spec}`);
  }
  const envelope: Record<string, unknown> = { kind };
  for (const [spec, check] of members) {
    const name = spec.replace("?", "");
    if (!seen.has(name)) continue;
    if (!check(record[name])) throw new WireError("bad-field", `${kind}.${name} is ${JSON.stringify(record[name])}`);
    envelope[name] = record[name];
  }
  return envelope as Envelope;
}

/** The member names of the top-level object in (valid) JSON `text`, duplicates included. */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (/\s/.test(text[k])) k++;
        if (text[k] === ":") keys.push(JSON.parse(text.slice(i, j + 1)));
      }
      i = j;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Whether an envelope answers a call, as its client sees it (an error with a `seq` answers a callback). */
export function isAnswer(envelope: Envelope): envelope is Extract<Envelope, { id: number }> {
  switch (envelope.kind) {
    case "reply":
    case "item":
    case "end":
    case "callback":
      return true;
    case "error":
      return envelope.seq === undefined;
    default:
      return false;
  }
}
