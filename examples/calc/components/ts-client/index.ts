// ts-client: calls a calc service through a typed client, every kind of
// call the wire has. `init.service` picks which: "calc" (Rust, the
// default) or "calc-ts" (TypeScript); the calls and checks are the same.
// With `init.slow` it makes one call that the service (the one registered
// under its name, else a new one) answers after that many ms, and ends: a
// process waiting in a call, for scenarios.

import { CallError, lookup, spawn } from "rusm-ts";

/** calc's methods, as its Rust source declares them. */
interface Calc {
  add(n: number): number;
  total(): number;
  echo(tag: string): string;
  reset(): void;
  count(to: number, everyMs: number): AsyncGenerator<number>;
  fold(xs: number[], f: (acc: number, x: number) => number): number | null;
  crash(): void;
  slow(ms: number): number;
}

function check<T>(what: string, got: T, want: T): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  console.log(`ts-client: ${what} ->`, got);
}

async function checkError(what: string, call: PromiseLike<unknown>, code: string): Promise<void> {
  try {
    const value = await call;
    throw new Error(`${what}: expected a ${code} error, got ${JSON.stringify(value)}`);
  } catch (e) {
    if (!(e instanceof CallError) || e.code !== code) throw e;
    console.log(`ts-client: ${what} -> ${e.message}`);
  }
}

export default async function main(init?: { service?: string; slow?: number }) {
  const service = init?.service ?? "calc";
  if (init?.slow !== undefined) {
    const calc = lookup<Calc>(service) ?? spawn<Calc>(service);
    console.log(`ts-client: slow answered after ${await calc.slow(init.slow)} ms`);
    return;
  }
  const calc = spawn<Calc>(service);
  check("add 2", await calc.add(2), 2);
  check("add 3", await calc.add(3), 5);
  calc.$cast("reset");
  check("total after reset", await calc.total(), 0);
  const items: number[] = [];
  for await (const n of calc.count(3, 0)) items.push(n);
  check("count 3", items, [0, 1, 2]);
  let calls = 0;
  const sum = await calc.fold([1, 2, 3, 4], (acc, x) => {
    calls++;
    return acc + x;
  });
  check("fold with a callback", sum, 10);
  check("callback runs", calls, 4);
  // Untyped calls: what a typed client would not let through.
  const raw = calc as unknown as Record<string, (...args: unknown[]) => PromiseLike<unknown>>;
  await checkError("an unknown method", raw.subtract(1), "unknown-method");
  await checkError("bad arguments", raw.add("two"), "bad-arguments");
  await checkError("a timeout", calc.$timeout(20).slow(200), "timeout");
  // The late answer to `slow` must not be taken for this one's.
  check("the next call after a timeout", await calc.echo("after"), "after");
  await checkError("a crashed service", calc.crash(), "service-died");
  console.log(`ts-client: every kind of call to ${service} answered as it should`);
}
