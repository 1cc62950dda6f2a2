// How a bundled component starts: `rusm build` makes the bundle's entry
//
//     import * as component from "<the component>";
//     import { start } from "rusm-ts";
//     export default () => start(component);
//
// and the runner runs that default export as the process. (`rusm-ts` is
// the runner's module: this package, evaluated once in its snapshot, with
// `start` among its exports.)
//
// - Spawned to serve a client (a session): an HTTP request goes to the
//   default export, a fetch-shaped handler; a WebSocket connection to the
//   default export made with `websocket({ open, message })`.
// - Otherwise, a default export that is a function makes a worker: it runs
//   with the init payload (JSON decoded), and the process ends when it
//   returns. A component without one is a service: its exported functions
//   are its methods.

import { native } from "./natives";
import { Process } from "./process";
import { isWebSocket, serveHttp, serveWebSocket } from "./serve";
import { serve } from "./service";

export function start(component: Record<string, unknown>): unknown {
  const main = component.default;
  const session = native.session();
  if (session !== null) {
    if (session.socket !== null) return serveWebSocket(session, main);
    if (typeof main !== "function") {
      throw new TypeError("a component served over HTTP exports default function handle(request: Request): Response");
    }
    return serveHttp(session, main as (request: unknown) => unknown);
  }
  if (isWebSocket(main)) throw new TypeError("a websocket() component is started by a ws listener, one process per connection");
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
