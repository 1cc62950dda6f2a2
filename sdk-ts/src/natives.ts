// The runner's natives (runner/src/natives.rs and prelude.js): the host
// imports one for one. Only this package touches them.

/** A message as the runner hands it over. */
export type RawMessage =
  | { from: bigint; data: string; binary?: Uint8Array }
  | { down: bigint; ref: bigint; reason: string }
  | { exit: bigint; reason: string };

export interface Natives {
  now(): number;
  self(): bigint;
  init(): string;
  send(to: bigint, data: string | Uint8Array): void;
  /** Synchronous: the next message; with ms >= 0, null once ms pass. */
  wait(ms: number): RawMessage | null;
  receive(ms?: number): Promise<RawMessage | null>;
  spawn(component: string, init: string): bigint;
  link(pid: bigint): void;
  unlink(pid: bigint): void;
  monitor(pid: bigint): bigint;
  demonitor(ref: bigint): void;
  /** How many received messages the stash holds (they count toward mailbox-len). */
  setAside(count: number): void;
  trapExit(on: boolean): boolean;
  register(name: string, pid?: bigint): void;
  unregister(name: string): void;
  whereis(name: string): bigint | null;
  exit(pid: bigint, reason: string): void;
  kvGet(bucket: string, key: string, text: true): string | null;
  kvGet(bucket: string, key: string, text?: false): Uint8Array | null;
  kvSet(bucket: string, key: string, value: string | Uint8Array): void;
  kvDelete(bucket: string, key: string): boolean;
  kvExists(bucket: string, key: string): boolean;
  kvList(bucket: string, prefix?: string, limit?: number): string[];
  session(): Session | null;
  respond(status: number, headers: [string, string][], body: string | Uint8Array): void;
  respondStream(status: number, headers: [string, string][]): void;
  /** False once the client has gone. */
  write(chunk: string | Uint8Array): boolean;
  /** A text frame for a string, a binary one for bytes; false once the client has gone. */
  sendFrame(data: string | Uint8Array): boolean;
  utf8Encode(text: string): Uint8Array;
  utf8Decode(bytes: Uint8Array, fatal?: boolean): string;
  /** At most 65536 bytes from WASI's random. */
  randomBytes(n: number): Uint8Array;
  digest(hash: string, data: Uint8Array): Uint8Array;
  hmacSign(hash: string, key: Uint8Array, data: Uint8Array): Uint8Array;
  hmacVerify(hash: string, key: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean;
  aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Starts an outbound request; the pid of the fetch process carrying it. Throws the host's refusal. */
  fetchStart(
    method: string,
    url: string,
    headers: [string, string][],
    body: Uint8Array | null,
    streamed: boolean,
    redirect: "follow" | "manual" | "error",
  ): bigint;
}

/** What a process spawned to serve a client is serving. */
export interface Session {
  action: string;
  params: [string, string][];
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: Uint8Array;
  /** For a WebSocket: the process that holds the socket. */
  socket: bigint | null;
}

declare global {
  var __rusm: Natives;
}

export const native: Natives = globalThis.__rusm;
