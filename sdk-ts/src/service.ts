// Services over the wire (docs/wire.md), as rusm-rs speaks it.
//
// Client: `spawn<T>(component)`, `connect<T>(pid)` and `lookup<T>(name)`
// return a concealed typed client. `await svc.add(2, 3)` is a call; `for
// await (const x of svc.count(3))` a streaming call; a function argument is
// a callback the service runs in this process. The call monitors the
// service for its length: a service that dies is a `service-died` error,
// no answer in time a `timeout`.
//
// Service: a module's exported functions. One call or cast is handled at a
// time, in arrival order; a generator streams its items; a thrown
// `CallError` answers with its code, any other exception crashes the
// service (let it crash: its clients see `service-died`).

import { type Message, type Pid, awaiting, envelopeOf, nextCallId, take } from "./mailbox";
import { native } from "./natives";
import { type Envelope, type ErrorCode, encode, isAnswer } from "./wire";

/** How long a call or callback waits for its answer unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 5_000;

/** A call that did not produce its result. */
export class CallError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "CallError";
  }
}

// Any function at all: a method of any parameters.
type Fn = (...args: any[]) => any;

/** What a call of a method returns to the client: a stream for a generator, else a promise. */
export type Answer<R> = R extends AsyncGenerator<infer I, unknown, unknown> | Generator<infer I, unknown, unknown>
  ? AsyncIterable<I>
  : Promise<Awaited<R>>;

/** The typed client of a service whose methods are `T`'s functions. */
export type Client<T> = {
  readonly [K in keyof T as T[K] extends Fn ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Answer<R>
    : never;
} & {
  /** The service's pid. */
  readonly $pid: Pid;
  /** Runs `method` without waiting or hearing back. */
  $cast<K extends keyof T>(method: K, ...args: T[K] extends Fn ? Parameters<T[K]> : never): void;
  /** The same client, waiting at most `ms` for each answer. */
  $timeout(ms: number): Client<T>;
};

/** Spawns a process of `component` (needs the `spawn` capability) and returns its client. */
export function spawn<T>(component: string, init?: unknown): Client<T> {
  return connect<T>(native.spawn(component, init === undefined ? "" : JSON.stringify(init)));
}

/** A client of the service `pid`. */
export function connect<T>(pid: Pid, timeoutMs: number = DEFAULT_TIMEOUT_MS): Client<T> {
  return new Proxy({} as Client<T>, {
    get(_, name) {
      if (name === "$pid") return pid;
      if (name === "$timeout") return (ms: number) => connect<T>(pid, ms);
      if (name === "$cast") {
        return (method: string, ...args: unknown[]) => {
          send(pid, { kind: "cast", method, args: wireArgs(args, []) });
        };
      }
      // Not a thenable, not iterable: only methods.
      if (typeof name === "symbol" || name === "then") return undefined;
      return (...args: unknown[]) => new Call(pid, name, args, timeoutMs);
    },
  });
}

/** A client of the service registered as `name`, or null. */
export function lookup<T>(name: string): Client<T> | null {
  const pid = native.whereis(name);
  return pid === null ? null : connect<T>(pid);
}

function send(to: Pid, envelope: Envelope): void {
  native.send(to, encode(envelope));
}

/** Arguments as the wire writes them: the n-th function becomes `{"callback": n}`. */
function wireArgs(args: unknown[], callbacks: Fn[]): unknown[] {
  return args.map((arg) => {
    if (typeof arg !== "function") return arg;
    callbacks.push(arg as Fn);
    return { callback: callbacks.length - 1 };
  });
}

/** One call: awaited, it is its reply; iterated, its items. */
class Call<R> implements PromiseLike<R>, AsyncIterable<unknown> {
  private id = 0;
  private ref = 0n;
  private state: "new" | "waiting" | "done" = "new";
  private callbacks: Fn[] = [];
  private release = () => {};

  constructor(
    private readonly service: Pid,
    private readonly method: string,
    private readonly args: unknown[],
    private readonly timeoutMs: number,
  ) {}

  then<A = R, B = never>(
    onFulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result().then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
    this.start();
    try {
      for (;;) {
        const answer = await this.next();
        if (answer.kind === "end") return;
        if (answer.kind === "reply") {
          throw new CallError("bad-reply", `${this.method} answers once: await it rather than iterate it`);
        }
        yield answer.value;
      }
    } finally {
      this.finish();
    }
  }

  private async result(): Promise<R> {
    this.start();
    try {
      const answer = await this.next();
      if (answer.kind === "reply") return answer.value as R;
      throw new CallError("bad-reply", `${this.method} streams its answer: iterate it with for await`);
    } finally {
      this.finish();
    }
  }

  private start(): void {
    if (this.state !== "new") throw new Error(`a call of ${this.method} is awaited or iterated once`);
    this.state = "waiting";
    this.id = nextCallId();
    this.release = awaiting(this.id);
    this.ref = native.monitor(this.service);
    send(this.service, { kind: "call", id: this.id, method: this.method, args: wireArgs(this.args, this.callbacks) });
  }

  private finish(): void {
    if (this.state !== "waiting") return;
    this.state = "done";
    native.demonitor(this.ref);
    this.release();
  }

  /** The next reply, item or end; callbacks the service invokes meanwhile run here. */
  private async next(): Promise<Extract<Envelope, { kind: "reply" | "item" | "end" }>> {
    for (;;) {
      const message = await take((m) => this.answers(m), this.timeoutMs);
      if (message === null) {
        throw new CallError("timeout", `no answer to ${this.method} within ${this.timeoutMs} ms`);
      }
      if (message.kind === "down") throw new CallError("service-died", message.reason);
      const envelope = envelopeOf(message) as Envelope;
      switch (envelope.kind) {
        case "error":
          throw new CallError(envelope.code, envelope.message);
        case "callback":
          await this.runCallback(envelope);
          continue;
        case "reply":
        case "item":
        case "end":
          return envelope;
      }
    }
  }

  private answers(message: Message): boolean {
    if (message.kind === "down") return message.ref === this.ref;
    if (message.kind !== "data" || message.from !== this.service) return false;
    const envelope = envelopeOf(message);
    return envelope !== null && isAnswer(envelope) && envelope.id === this.id;
  }

  private async runCallback(envelope: Extract<Envelope, { kind: "callback" }>): Promise<void> {
    const { id, seq } = envelope;
    const callback = this.callbacks[envelope.callback];
    if (callback === undefined) {
      const message = `${this.method} passed ${this.callbacks.length} callbacks, not number ${envelope.callback}`;
      send(this.service, { kind: "error", id, seq, code: "unknown-callback", message });
      return;
    }
    try {
      const value = await callback(...envelope.args);
      send(this.service, { kind: "callback-reply", id, seq, value: value ?? null });
    } catch (e) {
      const code = e instanceof CallError ? e.code : "bad-arguments";
      send(this.service, { kind: "error", id, seq, code, message: String((e as Error)?.message ?? e) });
    }
  }
}

let currentCaller: Pid | null = null;

/**
 * The process whose call or cast this service is handling (Erlang's
 * `From`): subscribe it, rather than trusting a pid in the arguments.
 */
export function caller(): Pid {
  if (currentCaller === null) throw new Error("caller() is for a method a service is running");
  return currentCaller;
}

/** Serves `methods` forever; other messages are dropped. */
export async function serve(methods: Record<string, unknown>): Promise<never> {
  for (;;) {
    const message = (await take(() => true)) as Message;
    const envelope = envelopeOf(message);
    if (message.kind !== "data" || envelope === null) continue;
    if (envelope.kind === "call" || envelope.kind === "cast") {
      await handle(methods, message.from, envelope);
    }
  }
}

let lastSeq = 0;

async function handle(
  methods: Record<string, unknown>,
  client: Pid,
  request: Extract<Envelope, { kind: "call" | "cast" }>,
): Promise<void> {
  const id = request.kind === "call" ? request.id : null;
  const answer = (envelope: (id: number) => Envelope) => {
    if (id !== null) send(client, envelope(id));
  };
  const method = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined;
  if (typeof method !== "function" || request.method === "default") {
    const message = `no method ${JSON.stringify(request.method)}`;
    answer((id) => ({ kind: "error", id, code: "unknown-method", message }));
    return;
  }
  const args = request.args.map((arg) => (isCallbackArg(arg) ? callbackTo(client, id, arg.callback) : arg));
  currentCaller = client;
  try {
    const result = method(...args);
    if (isGenerator(result)) {
      for await (const item of result) answer((id) => ({ kind: "item", id, value: item ?? null }));
      answer((id) => ({ kind: "end", id }));
    } else {
      const value = await result;
      answer((id) => ({ kind: "reply", id, value: value ?? null }));
    }
  } catch (e) {
    if (!(e instanceof CallError)) throw e;
    answer((id) => ({ kind: "error", id, code: e.code, message: e.message.replace(`${e.code}: `, "") }));
  } finally {
    currentCaller = null;
  }
}

function isCallbackArg(arg: unknown): arg is { callback: number } {
  if (arg === null || typeof arg !== "object" || Array.isArray(arg)) return false;
  const keys = Object.keys(arg);
  return keys.length === 1 && keys[0] === "callback" && Number.isInteger((arg as { callback: unknown }).callback);
}

function isGenerator(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  if (value === null || typeof value !== "object") return false;
  const it = value as Record<symbol | string, unknown>;
  return typeof it.next === "function" && (Symbol.asyncIterator in it || Symbol.iterator in it);
}

/** Callback `n` of call `id`: runs in the client, over the wire. */
function callbackTo(client: Pid, id: number | null, n: number): Fn {
  return async (...args: unknown[]) => {
    if (id === null) throw new CallError("bad-arguments", "a cast cannot call back: nobody waits for it");
    const seq = ++lastSeq;
    const ref = native.monitor(client);
    try {
      send(client, { kind: "callback", id, callback: n, seq, args });
      const message = await take((m) => {
        if (m.kind === "down") return m.ref === ref;
        const e = envelopeOf(m);
        return (
          m.kind === "data" &&
          m.from === client &&
          e !== null &&
          (e.kind === "callback-reply" || e.kind === "error") &&
          e.id === id &&
          e.seq === seq
        );
      }, DEFAULT_TIMEOUT_MS);
      if (message === null) throw new CallError("timeout", `callback ${n} did not answer within ${DEFAULT_TIMEOUT_MS} ms`);
      if (message.kind === "down") throw new CallError("service-died", `the caller ended: ${message.reason}`);
      const envelope = envelopeOf(message) as Envelope;
      if (envelope.kind === "error") throw new CallError(envelope.code, envelope.message);
      return (envelope as Extract<Envelope, { kind: "callback-reply" }>).value;
    } finally {
      native.demonitor(ref);
    }
  };
}
