// Evaluated first in every bundle (sdk-ts/bundle.ts imports it before the
// component), so that module code can already use the web globals and kv.

import { kv } from "./kv";
import { installWebGlobals } from "./web";

installWebGlobals();
globalThis.kv = kv;
