// api: the listener's handler, fetch-shaped: a Request in, a Response out.
// A ReadableStream body streams (Server-Sent Events) until the client
// leaves; then the stream is cancelled and the request's process ends.

export default function handle(request: Request): Response {
  const path = new URL(request.url).pathname;
  if (path.startsWith("/hello/")) {
    return new Response(`hello, ${path.slice("/hello/".length)}\n`, {
      headers: { "content-type": "text/plain" },
    });
  }
  if (path === "/ticks") return ticks();
  return new Response("not found\n", { status: 404 });
}

/** One event every 100 ms until the client leaves. */
function ticks(): Response {
  let sent = 0;
  const body = new ReadableStream<string>({
    async pull(controller) {
      if (sent > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      controller.enqueue(`data: tick ${sent++}\n\n`);
    },
    cancel() {
      console.log(`ticks: the client left after ${sent} events`);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}
