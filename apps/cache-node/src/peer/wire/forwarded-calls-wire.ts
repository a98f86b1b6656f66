import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ForwardedAnswer, ForwardedAnswerSchema, ForwardedCall, ForwardedCallSchema } from "@distcache/proto/raft";
import { decodeSideFrame, encodeSideFrame, isSideFrame } from "./side-frames.js";

/** Forwarded calls travel as PeerBatch frames that hold only `forwarded_calls` (field 4), their answers only `forwarded_answers` (field 5). */
const FORWARDED_CALLS = 4;
const FORWARDED_ANSWERS = 5;

export function isForwardedCallsFrame(payload: Uint8Array): boolean {
  return isSideFrame(payload, FORWARDED_CALLS);
}

export function isForwardedAnswersFrame(payload: Uint8Array): boolean {
  return isSideFrame(payload, FORWARDED_ANSWERS);
}

export function encodeForwardedCall(call: MessageInitShape<typeof ForwardedCallSchema>): Uint8Array {
  return encodeSideFrame({ forwardedCalls: [call] });
}

export function encodeForwardedAnswer(answer: MessageInitShape<typeof ForwardedAnswerSchema>): Uint8Array {
  return encodeSideFrame({ forwardedAnswers: [answer] });
}

export function decodeForwardedCalls(payload: Uint8Array): ForwardedCall[] {
  return decodeSideFrame(payload, "forwarded calls").forwardedCalls;
}

export function decodeForwardedAnswers(payload: Uint8Array): ForwardedAnswer[] {
  return decodeSideFrame(payload, "forwarded answers").forwardedAnswers;
}
