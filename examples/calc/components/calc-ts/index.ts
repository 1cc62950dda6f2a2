// calc-ts: calc (the Rust service beside it) in TypeScript. A service is
// just exported functions; the Rust `client` calls it through the same
// generated CalcClient it uses for calc, and the TypeScript `ts-client`
// calls either one.

import { CallError, Process } from "rusm-ts";

// Module code runs once, when the process starts: like calc, it is found
// by name.
Process.register("calc-ts");

let sum = 0;

/** JavaScript has no parameter types at run time: the service checks. */
function integer(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new CallError("bad-arguments", `${name} is an integer, not ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** Adds `n` to the total and returns the new total. */
export function add(n: number): number {
  sum += integer(n, "n");
  return sum;
}

export function total(): number {
  return sum;
}

/** Answers with what it was given (tests tell replies apart by it). */
export function echo(tag: string): string {
  return tag;
}

/** Sets the total back to zero (calc's clients cast it). */
export function reset(): void {
  sum = 0;
}

/** Streams 0..to, one item every `everyMs` milliseconds. */
export async function* count(to: number, everyMs: number): AsyncGenerator<number> {
  for (let n = 0; n < integer(to, "to"); n++) {
    await Process.sleep(everyMs);
    yield n;
  }
}

/** Folds `xs` with the caller's `f(acc, x)`, from 0; null if a callback failed. */
export async function fold(xs: number[], f: (acc: number, x: number) => Promise<number>): Promise<number | null> {
  let acc = 0;
  for (const x of xs) {
    try {
      acc = await f(acc, x);
    } catch {
      return null;
    }
  }
  return acc;
}

/** Throws: the process ends, and its clients see `service-died`. */
export function crash(): never {
  throw new Error(`told to crash with a total of ${sum}`);
}

/** Answers after `ms` milliseconds. */
export async function slow(ms: number): Promise<number> {
  await Process.sleep(ms);
  return ms;
}
