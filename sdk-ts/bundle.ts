// `rusm build`'s bundler: one TypeScript component, its npm imports and
// rusm-ts, into one ES module for the runner.
//
//     bun sdk-ts/bundle.ts <component entry> <out.js>
//
// The bundle's entry is a wrapper that installs the web globals
// (src/globals.ts), then imports the component, and whose default export
// starts it (src/start.ts). `rusm-ts` always resolves to this folder, the
// package that matches the runner built from the same tree. The target is
// the browser's: no Node built-ins, as in the sandbox.

import { unlinkSync } from "node:fs";
import { resolve } from "node:path";

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  console.error("usage: bun bundle.ts <component entry> <out.js>");
  process.exit(2);
}
const sdk = `${import.meta.dir}/src`;
const wrapper = `${resolve(out)}.entry.ts`;
await Bun.write(
  wrapper,
  `import "rusm-ts/globals";
import * as component from ${JSON.stringify(resolve(entry))};
import { start } from "rusm-ts/start";
export default () => start(component);
`,
);
let result: Awaited<ReturnType<typeof Bun.build>>;
try {
  result = await Bun.build({
    entrypoints: [wrapper],
    target: "browser",
    format: "esm",
    // Names are kept: they make the stack traces of a trap readable.
    minify: { syntax: true, whitespace: true, identifiers: false },
    plugins: [
      {
        name: "rusm-ts",
        setup(build) {
          build.onResolve({ filter: /^rusm-ts(\/(start|globals))?$/ }, (args) => ({
            path: args.path === "rusm-ts" ? `${sdk}/index.ts` : `${sdk}/${args.path.slice("rusm-ts/".length)}.ts`,
          }));
        },
      },
    ],
  });
} catch (e) {
  // Bun throws an AggregateError of build messages.
  for (const error of (e as AggregateError).errors ?? [e]) console.error(String(error));
  process.exit(1);
} finally {
  unlinkSync(wrapper);
}
if (!result.success) {
  for (const log of result.logs) console.error(String(log));
  process.exit(1);
}
await Bun.write(out, await result.outputs[0].text());
