// The process API: identity, messaging, links, monitors, the registry.

import { type Message, take } from "./mailbox";
import { native } from "./natives";
import { json } from "./wire";

export type { DataMessage, DownMessage, ExitMessage, Message, Pid } from "./mailbox";
import type { Pid } from "./mailbox";

/** Why a process is told to exit: "normal", "killed", "shutdown", or any other text (a custom reason). */
export type ExitReason = "normal" | "killed" | "shutdown" | (string & {});

export const Process = {
  /** This process's pid. */
  self(): Pid {
    return native.self();
  },

  /** The init payload this process was spawned with, as JSON decoded (undefined when empty). */
  init<T = unknown>(): T {
    return decodeInit(native.init()) as T;
  },

  /** Sends `message` as JSON. Never blocks; a message to an ended process is dropped. */
  send(to: Pid, message: unknown): void {
    native.send(to, json(message));
  },

  /** Sends text as it is (not JSON-encoded). */
  sendRaw(to: Pid, text: string): void {
    native.send(to, text);
  },

  /** The next message, or null once `ms` pass (Erlang's `receive … after`); no `ms` waits forever. */
  receive(ms?: number): Promise<Message | null> {
    return take(() => true, ms);
  },

  /** Waits `ms` milliseconds; messages stay in the mailbox. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  },

  /** Spawns a process of `component` (needs the `spawn` capability) with `init` as JSON. */
  spawn(component: string, init?: unknown): Pid {
    return native.spawn(component, init === undefined ? "" : json(init));
  },

  link(pid: Pid): void {
    native.link(pid);
  },
  unlink(pid: Pid): void {
    native.unlink(pid);
  },
  /** Monitors `pid`: a `down` message arrives when it ends. */
  monitor(pid: Pid): bigint {
    return native.monitor(pid);
  },
  demonitor(ref: bigint): void {
    native.demonitor(ref);
  },
  /** Whether exit signals arrive as `exit` messages; returns the old setting. */
  trapExit(on: boolean): boolean {
    return native.trapExit(on);
  },
  /** Registers `pid` (default: this process) as `name` (needs the `register` capability). */
  register(name: string, pid?: Pid): void {
    native.register(name, pid ?? native.self());
  },
  unregister(name: string): void {
    native.unregister(name);
  },
  /** The pid registered as `name`, or null. */
  whereis(name: string): Pid | null {
    return native.whereis(name);
  },
  /** Sends an exit signal to `pid`. */
  exit(pid: Pid, reason: ExitReason): void {
    native.exit(pid, reason);
  },
};

function decodeInit(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const self = Process.self;
export const send = Process.send;
export const receive = Process.receive;
export const register = Process.register;
export const whereis = Process.whereis;
