// Headers: names case-insensitive, values of one name joined with ", ",
// iterated in name order (set-cookie kept apart), as the fetch standard has it.

export type HeadersInit = Headers | [string, string][] | Record<string, string>;

export class Headers {
  #map = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (init instanceof Headers) {
      for (const [k, v] of init.#map) this.#map.set(k, [...v]);
    } else if (Array.isArray(init)) {
      for (const pair of init) {
        if (pair.length !== 2) throw new TypeError("Headers: each pair has a name and a value");
        this.append(pair[0], pair[1]);
      }
    } else if (init) {
      for (const k of Object.keys(init)) this.append(k, init[k]);
    }
  }

  static #name(name: string): string {
    const lower = String(name).toLowerCase();
    if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(lower)) throw new TypeError(`Headers: invalid name ${JSON.stringify(name)}`);
    return lower;
  }
  static #value(value: string): string {
    const trimmed = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\n\r]/.test(trimmed)) throw new TypeError(`Headers: invalid value ${JSON.stringify(value)}`);
    return trimmed;
  }

  append(name: string, value: string): void {
    const key = Headers.#name(name);
    const values = this.#map.get(key);
    if (values) values.push(Headers.#value(value));
    else this.#map.set(key, [Headers.#value(value)]);
  }
  set(name: string, value: string): void {
    this.#map.set(Headers.#name(name), [Headers.#value(value)]);
  }
  delete(name: string): void {
    this.#map.delete(Headers.#name(name));
  }
  get(name: string): string | null {
    return this.#map.get(Headers.#name(name))?.join(", ") ?? null;
  }
  getSetCookie(): string[] {
    return [...(this.#map.get("set-cookie") ?? [])];
  }
  has(name: string): boolean {
    return this.#map.has(Headers.#name(name));
  }
  forEach(f: (value: string, name: string, headers: Headers) => void): void {
    for (const [k, v] of this.entries()) f(v, k, this);
  }
  *entries(): IterableIterator<[string, string]> {
    for (const name of [...this.#map.keys()].sort()) {
      const values = this.#map.get(name) as string[];
      if (name === "set-cookie") for (const v of values) yield [name, v];
      else yield [name, values.join(", ")];
    }
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
