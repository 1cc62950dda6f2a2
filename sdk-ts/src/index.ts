// rusm-ts: write rusm processes in TypeScript.
//
// A worker is `export default function main(init) { … }`; a service is
// just exported functions, and its clients call them with
// `await svc.method(…)` through `spawn<typeof Svc>(…)`. The process API
// (`Process`), storage (`kv`) and `console` are here as well, over the same
// host ABI and JSON wire as rusm-rs.

export { kv, type Kv } from "./kv";
export type { DataMessage, DownMessage, ExitMessage, Message, Pid } from "./mailbox";
export { type ExitReason, Process, receive, register, self, send, whereis } from "./process";
export {
  type Answer,
  CallError,
  type Client,
  caller,
  connect,
  DEFAULT_TIMEOUT_MS,
  lookup,
  spawn,
} from "./service";
export { type Socket, type WebSocketHandler, websocket } from "./serve";
export type { ErrorCode } from "./wire";
