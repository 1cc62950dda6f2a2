// client: calls the counter (the one registered as "counter", else a new
// one) once per number in `adds`, then `slowAdd` if asked. Errors are
// values: a call to a service that dies mid-call rejects with a CallError
// whose code is "service-died". What it learns it logs and, when `report`
// names a process, sends there.

import { CallError, lookup, Process, spawn } from "rusm-ts";

/** counter's functions, as its module exports them. */
interface Counter {
  add(n: number): number;
  get(): number;
  slowAdd(n: number, ms: number): number;
}

export default async function main(init: { adds: number[]; slow_ms?: number; report?: number }) {
  const counter = lookup<Counter>("counter") ?? spawn<Counter>("counter");
  const tell = (report: { total: number } | { failed: string }) => {
    console.log("client:", JSON.stringify(report));
    if (init.report !== undefined) Process.send(BigInt(init.report), report);
  };
  const calls = init.adds.map((n) => () => counter.add(n));
  if (init.slow_ms !== undefined) calls.push(() => counter.slowAdd(1, init.slow_ms as number));
  for (const call of calls) {
    try {
      tell({ total: await call() });
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      tell({ failed: e.message });
      return;
    }
  }
}
