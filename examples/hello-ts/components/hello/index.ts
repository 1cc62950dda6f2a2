// hello: a TypeScript worker. Its default export is the process; the init
// payload arrives as its argument, JSON decoded.

import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex } from "@noble/hashes/utils";
import { Process } from "rusm-ts";

export default async function main(init?: { name?: string; quiet?: boolean; idle?: number }) {
  // For the benchmarks: `quiet` starts and ends at once (cold start);
  // `idle` tells that pid it is up, then waits (memory per idle process).
  if (init?.quiet) return;
  if (init?.idle !== undefined) {
    Process.send(BigInt(init.idle), "up");
    await Process.receive();
    return;
  }
  const name = init?.name ?? "world";
  const digest = bytesToHex(sha256(Uint8Array.from(name, (c) => c.charCodeAt(0) & 0xff)));
  console.log(`hello, ${name}! sha256 ${digest}`);
  const runs = (kv.getJson<number>("hello", "runs") ?? 0) + 1;
  kv.setJson("hello", "runs", runs);
  console.log("run", runs, "of this app; pid", Process.self());
  console.warn("nothing arrives:", await Process.receive(10));
}
