import { bytes } from "./_helpers.ts";

export const ok = () => new Response("ok");
export const echo = async (req: Request) =>
  new Response(await req.arrayBuffer(), { headers: { "x-method": req.method } });

/** A promise to release a handler that waits, released at the latest when the test ends. */
export function gate(): { wait: Promise<void>; open(): void } & Disposable {
  const d = Promise.withResolvers<void>();
  return { wait: d.promise, open: d.resolve, [Symbol.dispose]: d.resolve };
}

/** A stream the test feeds, recording whether it was cancelled. */
export function feed(): {
  stream: ReadableStream<Uint8Array>;
  push(s: string): void;
  end(): void;
  cancelled: boolean;
} {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const f = {
    cancelled: false,
    stream: new ReadableStream<Uint8Array>({
      start: (c) => void (ctl = c),
      cancel: () => void (f.cancelled = true),
    }),
    push: (s: string) => ctl.enqueue(bytes(s)),
    end: () => ctl.close(),
  };
  return f;
}
