// `rusm build`'s bundler: one TypeScript component and its npm imports
// into one ES module for the runner.
//
//     bun sdk-ts/bundle.ts <component entry> <out.js>
//     bun sdk-ts/bundle.ts --library <out.js>
//
// rusm-ts is not in a component's bundle: the runner holds it, evaluated
// once in its snapshot, as the module `rusm-ts` (the second form bundles
// it for the runner's build). The library's entry installs the web globals
// (src/globals.ts) and exports rusm-ts's API and `start` (src/start.ts); a
// component's entry imports the component, and its default export starts
// it. `rusm-ts`, `rusm-ts/start` and `rusm-ts/globals` are imports of the
// runner's module, which matches this folder: the runner is built from the
// same tree. The target is the browser's: no Node built-ins, as in the
// sandbox.

import { mkdtempSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

const [first, second] = process.argv.slice(2);
const library = first === "--library";
const [entry, out] = library ? [null, second] : [first, second];
if ((!library && !entry) || !out) {
  console.error("usage: bun bundle.ts <component entry> <out.js> | --library <out.js>");
  process.exit(2);
}
const sdk = `${import.meta.dir}/src`;
// In a directory of its own per run: two builds of one app at once (two
// `rusm sim` processes, say) would otherwise delete each other's wrapper.
// The file keeps one name, which Bun turns into the default export's: the
// bundle's bytes do not depend on the run.
const scratch = mkdtempSync(join(dirname(resolve(out)), ".bundle-"));
const wrapper = join(scratch, `${basename(out)}.entry.ts`);
await Bun.write(
  wrapper,
  library
    ? `import ${JSON.stringify(`${sdk}/globals.ts`)};
export * from ${JSON.stringify(`${sdk}/index.ts`)};
export { start } from ${JSON.stringify(`${sdk}/start.ts`)};
`
    : `import * as component from ${JSON.stringify(resolve(entry!))};
import { start } from "rusm-ts";
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
          build.onResolve({ filter: /^rusm-ts(\/(start|globals))?$/ }, () => ({ path: "rusm-ts", external: true }));
        },
      },
    ],
  });
} catch (e) {
  // Bun throws an AggregateError of build messages.
  for (const error of (e as AggregateError).errors ?? [e]) console.error(String(error));
  process.exit(1);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (!result.success) {
  for (const log of result.logs) console.error(String(log));
  process.exit(1);
}
await Bun.write(out, await result.outputs[0].text());
