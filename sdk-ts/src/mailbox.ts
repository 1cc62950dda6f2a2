// Selective receive over the host's FIFO mailbox, as rusm-rs's `mailbox`
// does it: a message nobody is waiting for is stashed, in order, for the
// next `take` that matches it, and the host is told how many it holds (they
// count toward mailbox-len, as Erlang's skipped messages do). One receive at
// a time is outstanding in the runner (the pump); each taker waits for its
// own kind of message, so a call waiting for its reply never swallows a
// message meant for the process's own `receive`.

import { type RawMessage, native } from "./natives";
import { decode, type Envelope, isAnswer, looksLikeEnvelope } from "./wire";

export type Pid = bigint;

/** A message from another process; `data` is its JSON decoded (or the text, if it is not JSON). */
export interface DataMessage {
  kind: "data";
  from: Pid;
  data: unknown;
  /** The message as text (bytes that are not UTF-8 replaced). */
  raw: string;
  /** The message's bytes, when they are not UTF-8 (a binary frame, say). */
  bytes?: Uint8Array;
}

/** A monitored process ended. */
export interface DownMessage {
  kind: "down";
  pid: Pid;
  ref: bigint;
  reason: string;
}

/** A linked process ended, received as a message because this one traps exits. */
export interface ExitMessage {
  kind: "exit";
  from: Pid;
  reason: string;
}

export type Message = DataMessage | DownMessage | ExitMessage;

type Taker = { match: (m: Message) => boolean; resolve: (m: Message | null) => void };

const stash: Message[] = [];
/** The stash's length as the host last heard it. */
let toldAside = 0;
const takers: Taker[] = [];

/** Tells the host the stash's length, if it changed. */
function tellAside(): void {
  if (stash.length !== toldAside) {
    toldAside = stash.length;
    native.setAside(toldAside);
  }
}
let pumping = false;

function convert(raw: RawMessage): Message {
  if ("from" in raw) {
    let data: unknown = raw.data;
    try {
      data = JSON.parse(raw.data);
    } catch {
      // Not JSON: the text itself.
    }
    return { kind: "data", from: raw.from, data, raw: raw.data, bytes: raw.binary };
  }
  if ("down" in raw) return { kind: "down", pid: raw.down, ref: raw.ref, reason: raw.reason };
  return { kind: "exit", from: raw.exit, reason: raw.reason };
}

const envelopes = new WeakMap<DataMessage, Envelope | null>();

/** The envelope a data message carries, if it is one (decoded once). */
export function envelopeOf(message: Message): Envelope | null {
  if (message.kind !== "data") return null;
  let envelope = envelopes.get(message);
  if (envelope === undefined) {
    envelope = null;
    if (looksLikeEnvelope(message.raw)) {
      try {
        envelope = decode(message.raw);
      } catch {
        // A service drops what it cannot read (docs/wire.md).
      }
    }
    envelopes.set(message, envelope);
  }
  return envelope;
}

let lastCallId = 0;
const inFlight = new Set<number>();

/** A fresh call id (ids count from 1). */
export function nextCallId(): number {
  return ++lastCallId;
}

/** Marks call `id` as awaited until the returned function is called. */
export function awaiting(id: number): () => void {
  inFlight.add(id);
  return () => inFlight.delete(id);
}

/** An answer to one of this process's calls that nobody awaits any more. */
function isStale(message: Message): boolean {
  const envelope = envelopeOf(message);
  return envelope !== null && isAnswer(envelope) && envelope.id <= lastCallId && !inFlight.has(envelope.id);
}

/** Hands a message to the oldest taker that wants it, or stashes it; drops answers to abandoned calls. */
function dispatch(message: Message): void {
  if (isStale(message)) return;
  const i = takers.findIndex((t) => t.match(message));
  if (i >= 0) takers.splice(i, 1)[0].resolve(message);
  else {
    stash.push(message);
    tellAside();
  }
}

async function pump(): Promise<void> {
  if (pumping) return;
  pumping = true;
  try {
    while (takers.length > 0) {
      const raw = await native.receive();
      if (raw !== null) dispatch(convert(raw));
    }
  } finally {
    pumping = false;
  }
}

/**
 * The oldest message that `match` accepts: from the stash, or the next to
 * arrive; null once `ms` pass without one (an undefined `ms` waits
 * forever). Messages it does not accept stay, in order, for other takers.
 */
export function take(match: (m: Message) => boolean, ms?: number): Promise<Message | null> {
  const stashed = stash.findIndex(match);
  if (stashed >= 0) {
    const message = stash.splice(stashed, 1)[0];
    tellAside();
    return Promise.resolve(message);
  }
  return new Promise((resolve) => {
    const taker: Taker = { match, resolve };
    takers.push(taker);
    if (ms !== undefined && ms !== null && Number.isFinite(ms)) {
      setTimeout(() => {
        // Erlang's `after`: what already arrived counts before the deadline.
        for (let raw = native.wait(0); raw !== null; raw = native.wait(0)) dispatch(convert(raw));
        const i = takers.indexOf(taker);
        if (i >= 0) {
          takers.splice(i, 1);
          resolve(null);
        }
      }, Math.max(0, ms));
    }
    void pump();
  });
}
