import { decodeForwardedAnswers, decodeForwardedCalls, isForwardedAnswersFrame, isForwardedCallsFrame } from "../peer/wire/forwarded-calls-wire.js";
import { PeerCallClient, type PeerLinks } from "./peer-calls.js";
import { PeerCallServer } from "./peer-call-server.js";

/**
 * Forwarding on peer links, both halves: the calls this node forwards to its peers
 * (client) and the calls its peers forward to it (server), on the authenticated peer
 * connections. A frame that does not decode throws a PeerProtocolError, which closes the
 * connection it came on, as for any peer frame.
 */
export class PeerForwarding {
  readonly client: PeerCallClient;
  readonly server: PeerCallServer;

  constructor(links: PeerLinks, limits: { callsMax?: number; servedMax?: number } = {}) {
    this.client = new PeerCallClient(links, limits.callsMax);
    this.server = new PeerCallServer(links, { servedMax: limits.servedMax });
  }

  /** Whether a frame is a forwarded call or answer (they must not arrive late: see PeerTransportOptions.dropOnClose). */
  static carries(payload: Uint8Array): boolean {
    return isForwardedCallsFrame(payload) || isForwardedAnswersFrame(payload);
  }

  /** Handles a forwarded-calls or answers frame from `from`; false for any other frame. */
  accept(from: string, payload: Uint8Array): boolean {
    if (isForwardedCallsFrame(payload)) {
      for (const call of decodeForwardedCalls(payload)) this.server.run(from, call);
      return true;
    }
    if (isForwardedAnswersFrame(payload)) {
      for (const answer of decodeForwardedAnswers(payload)) this.client.answer(from, answer);
      return true;
    }
    return false;
  }

  /** A connection to or from `peer` closed. */
  linkDown(peer: string): void {
    this.client.linkDown(peer);
  }
}
