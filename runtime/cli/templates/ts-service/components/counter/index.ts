// counter: a service with state. A service is just exported functions;
// each call from a client runs one of them, and an async one may take its
// time (the process keeps answering others meanwhile).

import { CallError, Process } from "rusm-ts";

// Module code runs once, when the process starts: it is found by name.
Process.register("counter");

let total = 0;

/** JavaScript has no parameter types at run time: the service checks. */
function integer(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new CallError("bad-arguments", `${name} is an integer, not ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** Adds `n` and returns the new total. */
export function add(n: number): number {
  total += integer(n, "n");
  return total;
}

/** The total so far. */
export function get(): number {
  return total;
}

/** Adds `n` after `ms` milliseconds: a call that takes a while. */
export async function slowAdd(n: number, ms: number): Promise<number> {
  await Process.sleep(integer(ms, "ms"));
  return add(n);
}
