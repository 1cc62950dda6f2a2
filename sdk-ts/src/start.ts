// How a bundled component starts: `rusm build` makes the bundle's entry
//
//     import * as component from "<the component>";
//     import { start } from "rusm-ts/start";
//     export default () => start(component);
//
// and the runner runs that default export as the process. A component
// whose default export is a function is a worker: it runs with the init
// payload (JSON decoded) and the process ends when it returns. A component
// without one is a service: its exported functions are its methods.

import { kv } from "./kv";
import { Process } from "./process";
import { serve } from "./service";

globalThis.kv = kv;

export function start(component: Record<string, unknown>): unknown {
  const main = component.default;
  if (typeof main === "function") return main(Process.init());
  if (main !== undefined) {
    throw new TypeError("the default export of a component is its main function (a worker)");
  }
  const methods = Object.keys(component).filter((name) => typeof component[name] === "function");
  if (methods.length === 0) {
    throw new TypeError(
      "a component exports a default function (a worker) or functions (a service's methods), and this one exports neither",
    );
  }
  return serve(component);
}
