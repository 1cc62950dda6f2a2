// Evaluated first in the runner's rusm-ts (sdk-ts/bundle.ts --library
// imports it before the rest), before any component's module, so that
// module code can already use the web globals and kv.

import { kv } from "./kv";
import { installWebGlobals } from "./web";

installWebGlobals();
globalThis.kv = kv;
