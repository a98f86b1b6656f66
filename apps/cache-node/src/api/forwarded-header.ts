/** Marks a call one node forwarded to another, so it is never forwarded again. */
export const FORWARDED_HEADER = "distcache-forwarded";
