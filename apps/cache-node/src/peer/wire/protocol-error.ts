/**
 * A peer broke the peer protocol: a frame or message that no correct node sends (garbage,
 * an unknown type, a value out of range, a message for a group this node does not host).
 * The transport answers it by closing that peer's connection; the node keeps running.
 * Handlers of received frames throw it (or a subclass) to have the connection closed.
 */
export class PeerProtocolError extends Error {
  override name = "PeerProtocolError";
}
