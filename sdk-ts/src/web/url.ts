// URL and URLSearchParams, after the WHATWG URL standard: parsing with a
// base, the special schemes' defaults and path normalization, the
// percent-encode sets, and a live `searchParams`. Not covered: IDNA
// (non-ASCII host names are kept as they are) and IPv4 shorthands
// (`0x7f.1`). test/url.test.ts holds it to Bun's own URL.

const SPECIAL: Record<string, string> = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443", "ftp:": "21", "file:": "" };

const C0 = (c: number) => c < 0x20 || c > 0x7e;
const FRAGMENT = (c: number) => C0(c) || ' "<>`'.includes(String.fromCharCode(c));
const QUERY = (c: number) => C0(c) || ' "#<>'.includes(String.fromCharCode(c));
const SPECIAL_QUERY = (c: number) => QUERY(c) || c === 0x27;
const PATH = (c: number) => QUERY(c) || "?`{}^".includes(String.fromCharCode(c));
const USERINFO = (c: number) => PATH(c) || "/:;=@[\\]|".includes(String.fromCharCode(c));
const FORM = (c: number) => !/[*\-._0-9A-Za-z]/.test(String.fromCharCode(c));

const encoder = () => new TextEncoder();

function percentEncode(text: string, set: (c: number) => boolean): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x80 && !set(c)) {
      out += ch;
      continue;
    }
    for (const byte of encoder().encode(ch)) {
      out += set(byte) || byte >= 0x80 ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
    }
  }
  return out;
}

function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of encoder().encode(text[i] ?? "")) bytes.push(b);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

interface Parts {
  protocol: string;
  username: string;
  password: string;
  hostname: string;
  port: string;
  /** null for a URL with an opaque path (`mailto:x`). */
  segments: string[] | null;
  opaque: string;
  hasHost: boolean;
  search: string;
  hash: string;
}

function fail(input: string): never {
  throw new TypeError(`Invalid URL: ${input}`);
}

function parseHost(raw: string, special: boolean, input: string): string {
  if (raw.startsWith("[")) {
    if (!raw.endsWith("]") || !/^\[[0-9a-fA-F:.]+\]$/.test(raw)) fail(input);
    return raw.toLowerCase();
  }
  const host = special ? percentDecode(raw).toLowerCase() : raw;
  if (/[\u0000\t\n\r #/:<>?@[\\\]^|]/.test(host) || (special && /[%]/.test(host))) fail(input);
  if (special && host === "") fail(input);
  return special ? host : percentEncode(host, C0);
}

function normalizeSegments(segments: string[], special: boolean): string[] {
  const out: string[] = [];
  segments.forEach((raw, i) => {
    const segment = raw.toLowerCase().replace(/%2e/g, ".");
    const last = i === segments.length - 1;
    if (segment === "..") {
      if (out.length > 0 && !(out.length === 1 && /^[a-zA-Z]:$/.test(out[0]) && special)) out.pop();
      if (last) out.push("");
    } else if (segment === ".") {
      if (last) out.push("");
    } else {
      out.push(percentEncode(raw, PATH));
    }
  });
  return out;
}

function splitTail(rest: string): [string, string | null, string | null] {
  const hashAt = rest.indexOf("#");
  const hash = hashAt >= 0 ? rest.slice(hashAt + 1) : null;
  if (hashAt >= 0) rest = rest.slice(0, hashAt);
  const queryAt = rest.indexOf("?");
  const query = queryAt >= 0 ? rest.slice(queryAt + 1) : null;
  if (queryAt >= 0) rest = rest.slice(0, queryAt);
  return [rest, query, hash];
}

function parse(input: string, base?: Parts): Parts {
  const original = input;
  input = input.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "").replace(/[\t\n\r]/g, "");
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(input);
  let parts: Parts;
  let rest: string;
  if (scheme) {
    const protocol = `${scheme[1].toLowerCase()}:`;
    rest = input.slice(scheme[0].length);
    const special = protocol in SPECIAL;
    if (special && base && base.protocol === protocol && !/^[/\\]/.test(rest)) {
      // `http:foo` against an http base is relative to it.
      return relative(rest, base, original);
    }
    parts = { protocol, username: "", password: "", hostname: "", port: "", segments: [], opaque: "", hasHost: false, search: "", hash: "" };
    // file: has exactly two slashes before its (maybe empty) host.
    const slashes = protocol === "file:" ? /^[/\\]{2}/ : special ? /^[/\\]*/ : /^\/\//;
    const authority = slashes.exec(rest);
    if (special || authority) {
      rest = rest.slice(authority ? authority[0].length : 0);
      const end = rest.search(special ? /[/\\?#]/ : /[/?#]/);
      const auth = end >= 0 ? rest.slice(0, end) : rest;
      rest = end >= 0 ? rest.slice(end) : "";
      authorityInto(parts, auth, special, original);
    } else if (!rest.startsWith("/")) {
      const [path, query, hash] = splitTail(rest);
      parts.segments = null;
      parts.opaque = percentEncode(path, C0);
      parts.search = query === null ? "" : `?${percentEncode(query, QUERY)}`;
      parts.hash = hash === null ? "" : `#${percentEncode(hash, FRAGMENT)}`;
      return parts;
    }
  } else {
    if (!base) fail(original);
    return relative(input, base, original);
  }
  return tail(parts, rest);
}

function authorityInto(parts: Parts, auth: string, special: boolean, input: string): void {
  const at = auth.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = auth.slice(0, at);
    const colon = userinfo.indexOf(":");
    parts.username = percentEncode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, USERINFO);
    parts.password = colon >= 0 ? percentEncode(userinfo.slice(colon + 1), USERINFO) : "";
    auth = auth.slice(at + 1);
  }
  const port = /:(\d*)$/.exec(auth.startsWith("[") ? auth.slice(auth.indexOf("]")) : auth);
  if (port) auth = auth.slice(0, auth.length - port[0].length);
  if (parts.protocol === "file:") {
    parts.hostname = auth === "" || auth === "localhost" ? "" : parseHost(auth, true, input);
  } else {
    parts.hostname = parseHost(auth, special, input);
  }
  if (port && port[1] !== "") {
    const n = Number(port[1]);
    if (n > 65535) fail(input);
    parts.port = String(n) === SPECIAL[parts.protocol] ? "" : String(n);
  } else if (!port && /:/.test(auth)) {
    fail(input);
  }
  parts.hasHost = true;
}

function tail(parts: Parts, rest: string): Parts {
  const special = parts.protocol in SPECIAL;
  const [path, query, hash] = splitTail(rest);
  const raw = special ? path.replace(/\\/g, "/") : path;
  const segments = raw === "" ? (special ? [""] : []) : raw.replace(/^\//, "").split("/");
  parts.segments = normalizeSegments(segments, special);
  if (special && parts.segments.length === 0) parts.segments = [""];
  parts.search = query === null ? "" : `?${percentEncode(query, special ? SPECIAL_QUERY : QUERY)}`;
  parts.hash = hash === null ? "" : `#${percentEncode(hash, FRAGMENT)}`;
  return parts;
}

function relative(input: string, base: Parts, original: string): Parts {
  const special = base.protocol in SPECIAL;
  const parts: Parts = { ...base, segments: base.segments && [...base.segments], hash: "" };
  if (base.segments === null) {
    if (!input.startsWith("#")) fail(original);
    parts.hash = `#${percentEncode(input.slice(1), FRAGMENT)}`;
    return parts;
  }
  const slash = special ? /^[/\\]/ : /^\//;
  if (slash.test(input) && slash.test(input.slice(1))) {
    const rest = input.slice(2);
    const end = rest.search(special ? /[/\\?#]/ : /[/?#]/);
    const fresh: Parts = { ...parts, username: "", password: "", port: "", search: "", segments: [] };
    authorityInto(fresh, end >= 0 ? rest.slice(0, end) : rest, special, original);
    return tail(fresh, end >= 0 ? rest.slice(end) : "");
  }
  if (slash.test(input)) return tail({ ...parts, search: "" }, input);
  if (input === "" || input.startsWith("#")) {
    parts.hash = input === "" ? "" : `#${percentEncode(input.slice(1), FRAGMENT)}`;
    return parts;
  }
  if (input.startsWith("?")) return tail(parts, `/${(base.segments ?? []).join("/")}${input}`);
  const dir = (base.segments ?? []).slice(0, -1);
  return tail({ ...parts, search: "" }, `/${[...dir, input].join("/")}`);
}

export class URL {
  #parts: Parts;
  #query: URLSearchParams;

  constructor(url: string | URL, base?: string | URL) {
    const baseParts = base === undefined ? undefined : new URL(base).#parts;
    this.#parts = parse(String(url), baseParts);
    this.#query = new URLSearchParams(this.#parts.search);
    linkParams(this.#query, (search) => {
      this.#parts.search = search === "" ? "" : `?${search}`;
    });
  }

  static canParse(url: string, base?: string): boolean {
    try {
      new URL(url, base);
      return true;
    } catch {
      return false;
    }
  }

  static parse(url: string, base?: string): URL | null {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  }

  get href(): string {
    const p = this.#parts;
    let out = p.protocol;
    if (p.hasHost) {
      out += "//";
      if (p.username || p.password) out += `${p.username}${p.password ? `:${p.password}` : ""}@`;
      out += this.host;
    } else if (p.segments !== null && p.segments.length > 1 && p.segments[0] === "") {
      out += "/.";
    }
    return out + this.pathname + p.search + p.hash;
  }
  set href(value: string) {
    const fresh = new URL(value);
    this.#parts = fresh.#parts;
    this.#reparams();
  }
  get origin(): string {
    const p = this.#parts;
    return p.protocol in SPECIAL && p.protocol !== "file:" ? `${p.protocol}//${this.host}` : "null";
  }
  get protocol(): string {
    return this.#parts.protocol;
  }
  get username(): string {
    return this.#parts.username;
  }
  set username(value: string) {
    this.#parts.username = percentEncode(value, USERINFO);
  }
  get password(): string {
    return this.#parts.password;
  }
  set password(value: string) {
    this.#parts.password = percentEncode(value, USERINFO);
  }
  get host(): string {
    const p = this.#parts;
    return p.port ? `${p.hostname}:${p.port}` : p.hostname;
  }
  set host(value: string) {
    this.href = `${this.protocol}//${this.#userinfo()}${value}${this.pathname}${this.search}${this.hash}`;
  }
  get hostname(): string {
    return this.#parts.hostname;
  }
  set hostname(value: string) {
    this.host = this.#parts.port ? `${value}:${this.#parts.port}` : value;
  }
  get port(): string {
    return this.#parts.port;
  }
  set port(value: string) {
    this.host = value === "" ? this.hostname : `${this.hostname}:${value}`;
  }
  get pathname(): string {
    const p = this.#parts;
    return p.segments === null ? p.opaque : p.segments.length === 0 ? "" : `/${p.segments.join("/")}`;
  }
  set pathname(value: string) {
    if (this.#parts.segments === null) return;
    const path = value.startsWith("/") ? value : `/${value}`;
    this.href = `${this.protocol}${this.#parts.hasHost ? `//${this.#userinfo()}${this.host}` : ""}${path.replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"))}${this.search}${this.hash}`;
  }
  get search(): string {
    return this.#parts.search.length > 1 ? this.#parts.search : "";
  }
  set search(value: string) {
    const query = value.startsWith("?") ? value.slice(1) : value;
    this.#parts.search = query === "" ? "" : `?${percentEncode(query, this.protocol in SPECIAL ? SPECIAL_QUERY : QUERY)}`;
    this.#reparams();
  }
  get searchParams(): URLSearchParams {
    return this.#query;
  }
  get hash(): string {
    return this.#parts.hash.length > 1 ? this.#parts.hash : "";
  }
  set hash(value: string) {
    const fragment = value.startsWith("#") ? value.slice(1) : value;
    this.#parts.hash = fragment === "" ? "" : `#${percentEncode(fragment, FRAGMENT)}`;
  }
  toString(): string {
    return this.href;
  }
  toJSON(): string {
    return this.href;
  }

  #userinfo(): string {
    const p = this.#parts;
    return p.username || p.password ? `${p.username}${p.password ? `:${p.password}` : ""}@` : "";
  }

  #reparams(): void {
    replaceAll(this.#query, this.#parts.search);
  }
}

const owners = new WeakMap<URLSearchParams, (search: string) => void>();
function linkParams(params: URLSearchParams, update: (search: string) => void): void {
  owners.set(params, update);
}
function replaceAll(params: URLSearchParams, search: string): void {
  const fresh = new URLSearchParams(search);
  params["list"].splice(0, params["list"].length, ...fresh["list"]);
}

type Init = string | [string, string][] | Record<string, string> | URLSearchParams;

export class URLSearchParams {
  private list: [string, string][] = [];

  constructor(init: Init = "") {
    if (typeof init === "string") {
      const query = init.startsWith("?") ? init.slice(1) : init;
      for (const pair of query.split("&")) {
        if (pair === "") continue;
        const eq = pair.indexOf("=");
        const name = eq >= 0 ? pair.slice(0, eq) : pair;
        const value = eq >= 0 ? pair.slice(eq + 1) : "";
        this.list.push([percentDecode(name.replace(/\+/g, " ")), percentDecode(value.replace(/\+/g, " "))]);
      }
    } else if (init instanceof URLSearchParams) {
      this.list = init.list.map(([k, v]) => [k, v]);
    } else if (Array.isArray(init) || (init && Symbol.iterator in Object(init))) {
      for (const pair of init as Iterable<[string, string]>) {
        const [k, v, ...extra] = [...pair];
        if (extra.length > 0 || v === undefined) throw new TypeError("URLSearchParams: each pair has a name and a value");
        this.list.push([String(k), String(v)]);
      }
    } else if (init && typeof init === "object") {
      for (const k of Object.keys(init)) this.list.push([k, String((init as Record<string, string>)[k])]);
    }
  }

  private changed(): void {
    owners.get(this)?.(this.toString());
  }
  get size(): number {
    return this.list.length;
  }
  append(name: string, value: string): void {
    this.list.push([String(name), String(value)]);
    this.changed();
  }
  delete(name: string, value?: string): void {
    this.list = this.list.filter(([k, v]) => !(k === name && (value === undefined || v === String(value))));
    this.changed();
  }
  get(name: string): string | null {
    return this.list.find(([k]) => k === name)?.[1] ?? null;
  }
  getAll(name: string): string[] {
    return this.list.filter(([k]) => k === name).map(([, v]) => v);
  }
  has(name: string, value?: string): boolean {
    return this.list.some(([k, v]) => k === name && (value === undefined || v === String(value)));
  }
  set(name: string, value: string): void {
    const i = this.list.findIndex(([k]) => k === name);
    if (i < 0) {
      this.list.push([String(name), String(value)]);
    } else {
      this.list[i][1] = String(value);
      this.list = this.list.filter(([k], j) => j <= i || k !== name);
    }
    this.changed();
  }
  sort(): void {
    // Stable, by UTF-16 code units, as the standard says.
    this.list = this.list
      .map((pair, i) => [pair, i] as const)
      .sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j))
      .map(([pair]) => pair);
    this.changed();
  }
  forEach(f: (value: string, name: string, params: URLSearchParams) => void): void {
    for (const [k, v] of this.list) f(v, k, this);
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.list) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.list) yield v;
  }
  *entries(): IterableIterator<[string, string]> {
    for (const [k, v] of this.list) yield [k, v];
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  toString(): string {
    return this.list
      .map(([k, v]) => `${percentEncode(k, FORM).replace(/%20/g, "+")}=${percentEncode(v, FORM).replace(/%20/g, "+")}`)
      .join("&");
  }
}
