// ReadableStream, the part a response body needs: an underlying source
// with start/pull/cancel, a default reader, async iteration, and
// ReadableStream.from. Chunks are pulled when a read waits on an empty
// queue (no high-water mark), which a producer cannot tell apart.

export interface UnderlyingSource<R> {
  start?(controller: ReadableStreamDefaultController<R>): void | Promise<void>;
  pull?(controller: ReadableStreamDefaultController<R>): void | Promise<void>;
  cancel?(reason?: unknown): void | Promise<void>;
}

type Read<R> = { done: false; value: R } | { done: true; value: undefined };

export class ReadableStreamDefaultController<R> {
  constructor(private readonly stream: ReadableStream<R>) {}
  get desiredSize(): number | null {
    return this.stream["state"] === "readable" ? 1 - this.stream["queue"].length : 0;
  }
  enqueue(chunk: R): void {
    this.stream["push"]({ chunk });
  }
  close(): void {
    this.stream["push"]({ close: true });
  }
  error(reason?: unknown): void {
    this.stream["fail"](reason);
  }
}

export class ReadableStream<R = Uint8Array> {
  private state: "readable" | "closing" | "closed" | "errored" = "readable";
  private queue: R[] = [];
  private waiting: { resolve: (r: Read<R>) => void; reject: (e: unknown) => void }[] = [];
  private reason: unknown;
  private started: Promise<void>;
  private pulling = false;
  private reader: ReadableStreamDefaultReader<R> | null = null;
  private readonly controller: ReadableStreamDefaultController<R>;

  constructor(private readonly source: UnderlyingSource<R> = {}) {
    this.controller = new ReadableStreamDefaultController(this);
    this.started = Promise.resolve().then(() => source.start?.(this.controller));
    this.started.catch((e) => this.fail(e));
  }

  static from<R>(items: Iterable<R> | AsyncIterable<R>): ReadableStream<R> {
    const iterator =
      Symbol.asyncIterator in Object(items)
        ? (items as AsyncIterable<R>)[Symbol.asyncIterator]()
        : (items as Iterable<R>)[Symbol.iterator]();
    return new ReadableStream<R>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    });
  }

  get locked(): boolean {
    return this.reader !== null;
  }

  getReader(): ReadableStreamDefaultReader<R> {
    if (this.reader) throw new TypeError("ReadableStream is locked to a reader");
    this.reader = new ReadableStreamDefaultReader(this);
    return this.reader;
  }

  async cancel(reason?: unknown): Promise<void> {
    if (this.state === "closed" || this.state === "errored") return;
    this.state = "closed";
    this.queue = [];
    for (const w of this.waiting.splice(0)) w.resolve({ done: true, value: undefined });
    await this.source.cancel?.(reason);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<R> {
    const reader = this.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value as R;
      }
    } finally {
      if (this.state === "readable") await reader.cancel();
      reader.releaseLock();
    }
  }

  private push(item: { chunk: R } | { close: true }): void {
    if (this.state !== "readable") throw new TypeError("the stream is closed");
    if ("close" in item) {
      this.state = this.queue.length === 0 ? "closed" : "closing";
      if (this.state === "closed") for (const w of this.waiting.splice(0)) w.resolve({ done: true, value: undefined });
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve({ done: false, value: item.chunk });
    else this.queue.push(item.chunk);
  }

  private fail(reason: unknown): void {
    if (this.state === "closed" || this.state === "errored") return;
    this.state = "errored";
    this.reason = reason;
    this.queue = [];
    for (const w of this.waiting.splice(0)) w.reject(reason);
  }

  private read(): Promise<Read<R>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift() as R;
      if (this.state === "closing" && this.queue.length === 0) this.state = "closed";
      return Promise.resolve({ done: false, value });
    }
    if (this.state === "closed" || this.state === "closing") return Promise.resolve({ done: true, value: undefined });
    if (this.state === "errored") return Promise.reject(this.reason);
    const read = new Promise<Read<R>>((resolve, reject) => this.waiting.push({ resolve, reject }));
    void this.pullIfWanted();
    return read;
  }

  private async pullIfWanted(): Promise<void> {
    if (this.pulling || !this.source.pull) return;
    this.pulling = true;
    try {
      await this.started;
      while (this.waiting.length > 0 && this.state === "readable") await this.source.pull(this.controller);
    } catch (e) {
      this.fail(e);
    } finally {
      this.pulling = false;
    }
  }
}

export class ReadableStreamDefaultReader<R> {
  constructor(private stream: ReadableStream<R> | null) {}
  read(): Promise<Read<R>> {
    if (!this.stream) return Promise.reject(new TypeError("the reader was released"));
    return this.stream["read"]();
  }
  async cancel(reason?: unknown): Promise<void> {
    await this.stream?.cancel(reason);
  }
  releaseLock(): void {
    if (this.stream) this.stream["reader"] = null;
    this.stream = null;
  }
}
