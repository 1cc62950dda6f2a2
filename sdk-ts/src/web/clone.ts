// structuredClone and FormData: small pieces of the platform that
// libraries reach for (jose clones its claims; SDKs test bodies with
// `instanceof FormData`).

import { DOMException } from "./base64";

/** A deep copy of plain data: objects, arrays, Date, RegExp, Map, Set, ArrayBuffer and typed arrays, with shared and circular references kept. */
export function structuredClone<T>(value: T): T {
  const seen = new Map<unknown, unknown>();
  const copy = (v: unknown): unknown => {
    if (typeof v === "function" || typeof v === "symbol") {
      throw new DOMException(`${String(v)} could not be cloned.`, "DataCloneError");
    }
    if (v === null || typeof v !== "object") return v;
    if (seen.has(v)) return seen.get(v);
    if (v instanceof Date) return new Date(v.getTime());
    if (v instanceof RegExp) return new RegExp(v.source, v.flags);
    if (v instanceof ArrayBuffer) {
      const out = v.slice(0);
      seen.set(v, out);
      return out;
    }
    if (ArrayBuffer.isView(v)) {
      const Ctor = v.constructor as new (buffer: ArrayBuffer) => ArrayBufferView;
      const out = new Ctor(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
      seen.set(v, out);
      return out;
    }
    if (v instanceof Map) {
      const out = new Map();
      seen.set(v, out);
      for (const [k, x] of v) out.set(copy(k), copy(x));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set();
      seen.set(v, out);
      for (const x of v) out.add(copy(x));
      return out;
    }
    if (v instanceof Error) {
      const out = new Error(v.message);
      out.name = v.name;
      seen.set(v, out);
      return out;
    }
    const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
    seen.set(v, out);
    for (const key of Object.keys(v)) (out as Record<string, unknown>)[key] = copy((v as Record<string, unknown>)[key]);
    return out;
  };
  return copy(value) as T;
}

/** Form fields (strings only: rusm has no Blob or File). */
export class FormData {
  #entries: [string, string][] = [];
  append(name: string, value: unknown): void {
    this.#entries.push([String(name), String(value)]);
  }
  set(name: string, value: unknown): void {
    this.delete(name);
    this.append(name, value);
  }
  delete(name: string): void {
    this.#entries = this.#entries.filter(([n]) => n !== name);
  }
  get(name: string): string | null {
    return this.#entries.find(([n]) => n === name)?.[1] ?? null;
  }
  getAll(name: string): string[] {
    return this.#entries.filter(([n]) => n === name).map(([, v]) => v);
  }
  has(name: string): boolean {
    return this.#entries.some(([n]) => n === name);
  }
  forEach(callback: (value: string, name: string, form: FormData) => void): void {
    for (const [n, v] of this.#entries) callback(v, n, this);
  }
  *entries(): IterableIterator<[string, string]> {
    yield* this.#entries.map(([n, v]) => [n, v] as [string, string]);
  }
  *keys(): IterableIterator<string> {
    for (const [n] of this.#entries) yield n;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.#entries) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
