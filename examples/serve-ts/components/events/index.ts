// SSE: the response body is a ReadableStream that ticks every `every_ms`
// (default 100) for the room named by the path. When the client leaves,
// the runner cancels the stream and the request's process ends.

export default function events(request: Request): Response {
  const url = new URL(request.url);
  const room = url.pathname.slice(1) || "lobby";
  const every = Number(url.searchParams.get("every_ms") ?? 100);
  let n = 0;
  const body = new ReadableStream<string>({
    async pull(controller) {
      if (n > 0) await new Promise((resolve) => setTimeout(resolve, every));
      controller.enqueue(`data: ${room} tick ${n++}\n\n`);
    },
    cancel(reason) {
      console.log(`events: ${room} closed after ${n} ticks (${reason})`);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}
