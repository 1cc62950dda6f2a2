// The runner's event loop and the globals every script gets, evaluated
// before the program. `__rusm` holds the natives (runner/src/natives.rs);
// this file adds what is easier said in JavaScript:
//
// - `__rusm.receive(ms?)`: a promise of the next message, or of null once
//   `ms` pass. Receives are served in the order they were made, one
//   message each.
// - `setTimeout`/`clearTimeout`/`setInterval`/`clearInterval`, at most
//   `MAX_TIMERS` pending at once (each step scans them all).
// - `console.log/info/debug/warn/error`, to the node's stderr (warn and
//   error prefixed `[warn]`/`[error]`): strings as they are, bigints as
//   digits, errors with their stack, other objects as JSON. Like any guest
//   output, shown only with `allow-stdio`.
// - `__rusm.step()`: the runner calls it whenever no job is left; it waits
//   for the nearest event (a message, a receive's deadline, a timer) and
//   returns false when no event can ever come.
(() => {
  "use strict";
  const rusm = globalThis.__rusm;
  const receivers = []; // {resolve, deadline}, oldest first
  const timers = new Map(); // id -> {at, seq, fn, args, every}
  const MAX_TIMERS = 10000;
  let nextTimer = 1;
  let seq = 0;

  rusm.receive = (ms) =>
    new Promise((resolve) => {
      const wait = ms === undefined || ms === null ? Infinity : Math.max(0, Number(ms));
      receivers.push({ resolve, deadline: rusm.now() + wait });
    });

  function schedule(fn, ms, args, every) {
    if (typeof fn !== "function") throw new TypeError("a timer needs a function");
    if (timers.size >= MAX_TIMERS) {
      throw new RangeError(`${MAX_TIMERS} timers are pending, the runner's limit: clear some first`);
    }
    const delay = Math.max(0, Number(ms) || 0);
    const id = nextTimer++;
    timers.set(id, { at: rusm.now() + delay, seq: seq++, fn, args, every: every ? delay : null });
    return id;
  }
  globalThis.setTimeout = (fn, ms, ...args) => schedule(fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => schedule(fn, ms, args, true);
  globalThis.clearTimeout = globalThis.clearInterval = (id) => {
    timers.delete(id);
  };

  // The timer due first (ties in the order they were set), if any.
  function firstTimer() {
    let first = null;
    for (const [id, t] of timers) {
      if (first === null || t.at < first[1].at || (t.at === first[1].at && t.seq < first[1].seq)) {
        first = [id, t];
      }
    }
    return first;
  }

  rusm.step = () => {
    const now = rusm.now();
    const due = firstTimer();
    if (due !== null && due[1].at <= now) {
      const [id, t] = due;
      if (t.every === null) timers.delete(id);
      else Object.assign(t, { at: now + t.every, seq: seq++ });
      t.fn(...t.args);
      return true;
    }
    const expired = receivers.findIndex((r) => r.deadline <= now);
    if (expired >= 0) {
      // The mailbox is checked once more before a deadline counts.
      const message = rusm.wait(0);
      const [r] = receivers.splice(message === null ? expired : 0, 1);
      r.resolve(message);
      return true;
    }
    let deadline = due === null ? Infinity : due[1].at;
    for (const r of receivers) deadline = Math.min(deadline, r.deadline);
    if (receivers.length === 0) {
      if (deadline === Infinity) return false;
      rusm.sleep(Math.ceil(deadline - now));
      return true;
    }
    const message = rusm.wait(deadline === Infinity ? -1 : Math.ceil(deadline - now));
    if (message !== null) receivers.shift().resolve(message);
    return true;
  };

  const text = (value) => {
    if (typeof value === "string") return value;
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Error) return value.stack ? `${value}\n${value.stack}`.trimEnd() : String(value);
    if (value !== null && typeof value === "object") {
      try {
        return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
      } catch {
        return String(value);
      }
    }
    return String(value);
  };
  const line = (values) => values.map(text).join(" ");
  globalThis.console = {
    log: (...values) => rusm.print(line(values)),
    info: (...values) => rusm.print(line(values)),
    debug: (...values) => rusm.print(line(values)),
    warn: (...values) => rusm.print(`[warn] ${line(values)}`),
    error: (...values) => rusm.print(`[error] ${line(values)}`),
  };
})();
