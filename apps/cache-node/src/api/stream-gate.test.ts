import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { StreamGate, type StreamCall, type StreamLimits, type StreamOutcome, type StreamSource } from "./stream-gate.js";

/** A stream's call made outside any HTTP request, as a handler called directly sees it. */
const call = (signal = new AbortController().signal): StreamCall => ({ signal, values: createContextValues() });

const LIMITS: StreamLimits = { perNodeMax: 2, perConnectionMax: 2, progressMs: 60_000, queueMax: 3 };

/** A source that sends "first", then whatever the test pushes, with "progress" at each interval. */
function source(): StreamSource<string> & { push: (m: string) => void; subscribers: number } {
  const listeners = new Set<(m: string) => void>();
  return {
    first: () => ["first"],
    subscribe: (push) => {
      listeners.add(push);
      return () => listeners.delete(push);
    },
    progress: () => "progress",
    push: (m) => listeners.forEach((l) => l(m)),
    get subscribers() {
      return listeners.size;
    },
  };
}

async function failureOf(next: Promise<unknown>): Promise<ConnectError> {
  try {
    await next;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the stream did not fail");
}

describe("StreamGate", () => {
  it("sends the first messages, then each pushed one in order, and unsubscribes when the caller goes away", async () => {
    const gate = new StreamGate(LIMITS);
    const src = source();
    const abort = new AbortController();
    const stream = gate.serve(src, call(abort.signal));
    expect((await stream.next()).value).toBe("first");
    src.push("a");
    src.push("b");
    expect((await stream.next()).value).toBe("a");
    const pending = stream.next();
    src.push("c");
    expect((await pending).value).toBe("b");
    expect((await stream.next()).value).toBe("c");
    const waiting = stream.next();
    abort.abort();
    expect((await waiting).done).toBe(true);
    expect(src.subscribers).toBe(0);
    expect(gate.size).toBe(0);
  });

  it("frees the place and closes the source of a stream whose first messages fail", async () => {
    const gate = new StreamGate({ ...LIMITS, perNodeMax: 1 });
    let closed = 0;
    const failing: StreamSource<string> = {
      ...source(),
      first: () => {
        throw new ConnectError("compacted", Code.OutOfRange);
      },
      close: () => void closed++,
    };
    expect((await failureOf(gate.serve(failing, call()).next())).code).toBe(Code.OutOfRange);
    expect(gate.size).toBe(0);
    expect(closed).toBe(1);
    const next = gate.serve(source(), call());
    expect((await next.next()).value).toBe("first");
    await next.return(undefined);
  });

  it("sends a progress message at every interval", async () => {
    const gate = new StreamGate({ ...LIMITS, progressMs: 20 });
    const stream = gate.serve(source(), call());
    await stream.next();
    expect((await stream.next()).value).toBe("progress");
    expect((await stream.next()).value).toBe("progress");
    await stream.return(undefined);
  });

  it("refuses a stream over the node's bound with resource_exhausted, and takes one again once a stream ends", async () => {
    const outcomes: StreamOutcome[] = [];
    const gate = new StreamGate(LIMITS, (o) => outcomes.push(o));
    const first = gate.serve(source(), call());
    await first.next();
    await gate.serve(source(), call()).next();
    // A stream never started holds no place.
    gate.serve(source(), call());
    const refusal = await failureOf(gate.serve(source(), call()).next());
    expect(refusal.code).toBe(Code.ResourceExhausted);
    expect(refusal.rawMessage).toMatch(/--streams-max/);
    await first.return(undefined);
    expect((await gate.serve(source(), call()).next()).value).toBe("first");
    expect(outcomes).toEqual(["opened", "opened", "refused", "ended", "opened"]);
  });

  it("drops a consumer that falls queueMax messages behind with resource_exhausted, never waiting for it", async () => {
    const outcomes: StreamOutcome[] = [];
    const gate = new StreamGate(LIMITS, (o) => outcomes.push(o));
    const src = source();
    const stream = gate.serve(src, call());
    expect((await stream.next()).value).toBe("first");
    for (let i = 0; i < LIMITS.queueMax + 1; i++) src.push(`m${i}`);
    const err = await failureOf(stream.next());
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/fell 3 messages behind/);
    expect(outcomes).toEqual(["opened", "dropped", "ended"]);
    expect(src.subscribers).toBe(0);
  });

  it("drops a consumer whose held messages pass queueBytesMax, as the source sizes them", async () => {
    const gate = new StreamGate({ ...LIMITS, queueMax: 100, queueBytesMax: 10 });
    const src = { ...source(), size: (m: string) => m.length };
    const stream = gate.serve(src, call());
    expect((await stream.next()).value).toBe("first");
    src.push("12345");
    src.push("67890");
    src.push("x");
    const err = await failureOf(
      (async () => {
        for (;;) await stream.next();
      })(),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/fell 10 bytes behind \(--stream-queue-bytes\)/);
  });

  it("keeps a consumer that stays within queueMax messages", async () => {
    const gate = new StreamGate(LIMITS);
    const src = source();
    const stream = gate.serve(src, call());
    await stream.next();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < LIMITS.queueMax; i++) src.push(`m${round}.${i}`);
      for (let i = 0; i < LIMITS.queueMax; i++) expect((await stream.next()).value).toBe(`m${round}.${i}`);
    }
    await stream.return(undefined);
  });

  it("ends every stream with unavailable when the node stops, and refuses new ones", async () => {
    const gate = new StreamGate(LIMITS);
    const stream = gate.serve(source(), call());
    await stream.next();
    const waiting = stream.next();
    gate.close();
    const err = await failureOf(waiting);
    expect(err.code).toBe(Code.Unavailable);
    expect((await failureOf(gate.serve(source(), call()).next())).rawMessage).toMatch(/shutting down/);
  });
});
