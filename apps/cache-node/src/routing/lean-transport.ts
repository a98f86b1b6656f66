import { fromBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import http from "node:http";
import { encodeUnaryInput } from "./unary-call-context.js";

/**
 * The lean transport: a minimal Connect client transport for node-to-node forwarding,
 * unary calls only, binary protobuf over keep-alive HTTP/1.1. It speaks the same protocol
 * as any Connect client; it exists because the general transport's per-call machinery
 * (HTTP/2 session management, abort plumbing, interceptors) cost more CPU than the call
 * itself on the forwarding hot path.
 */
export function createLeanTransport(
  baseUrl: string,
  options: { socketsMax?: number; callsMax?: number } = {},
): Transport & { close(): void; pending(): number } {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.socketsMax ?? 64 });
  // Calls beyond the agent's sockets wait in its queue, which has no bound of its own.
  const callsMax = options.callsMax ?? FORWARDED_CALLS_MAX;
  let pending = 0;
  return {
    pending: () => pending,
    unary: <I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      _header: HeadersInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> => {
      if (pending >= callsMax) {
        // Nothing was sent: the caller may retry at once elsewhere or later.
        return Promise.reject(
          new ConnectError(`${callsMax} calls to ${url.host} are in flight or queued, the limit; nothing was sent, retry`, Code.Unavailable),
        );
      }
      const body = encodeUnaryInput(method, input);
      const headers: http.OutgoingHttpHeaders = {
        "content-type": "application/proto",
        "connect-protocol-version": "1",
        "content-length": body.length,
      };
      if (timeoutMs !== undefined) headers["connect-timeout-ms"] = String(Math.max(1, Math.floor(timeoutMs)));
      pending++;
      return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
        const req = http.request(
          { agent, host: url.hostname, port: url.port, method: "POST", path: `/${method.parent.typeName}/${method.name}`, headers, signal, timeout: timeoutMs },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", (err) => reject(new ConnectError(err.message, Code.Aborted)));
            res.on("end", () => {
              const data = Buffer.concat(chunks);
              const responseHeader = new Headers();
              for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") responseHeader.set(k, v);
              if (res.statusCode !== 200) {
                const fallback = new ConnectError(`HTTP ${res.statusCode}`, codeFromHttpStatus(res.statusCode ?? 500), responseHeader);
                return reject(errorFromJsonBytes(data, responseHeader, fallback));
              }
              try {
                const message = fromBinary(method.output, data);
                resolve({ stream: false, service: method.parent, method, header: responseHeader, message, trailer: new Headers() });
              } catch (err) {
                reject(new ConnectError(`malformed response: ${(err as Error).message}`, Code.Internal));
              }
            });
          },
        );
        req.on("timeout", () => req.destroy(new ConnectError("the operation timed out", Code.DeadlineExceeded)));
        req.on("error", (err) => reject(err instanceof ConnectError ? err : connectErrorOf(err)));
        req.end(body);
      }).finally(() => pending--);
    },
    stream: () => Promise.reject(new ConnectError("the forwarding transport carries unary calls only", Code.Unimplemented)),
    close: () => agent.destroy(),
  };
}

/** Calls to one node a transport holds at once (sent or waiting for a socket) by default. */
export const FORWARDED_CALLS_MAX = 1024;

/** A refused connection is unavailable (nothing was sent); a reset may have been after delivery. */
function connectErrorOf(err: Error & { code?: string }): ConnectError {
  if (err.name === "AbortError") return new ConnectError("the call was canceled", Code.Canceled);
  if (err.code === "ECONNREFUSED") return new ConnectError(`connect ECONNREFUSED ${err.message.split(" ").at(-1) ?? ""}`.trim(), Code.Unavailable);
  return new ConnectError(err.message, Code.Aborted);
}
