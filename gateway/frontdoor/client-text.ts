/**
 * Text a client chose (a device name, a station name) on its way into a status message or an audit line.
 * Clipped by code point, never through a surrogate pair: half a pair is not well-formed UTF-16, grpc-js puts
 * a status message through `encodeURI` [gRPC over HTTP/2, "Status-Message": percent-encoded UTF-8], which
 * throws on it, and the throw lands in a stream callback where nothing catches it (the process would exit).
 */

/** How much of a client's device name is echoed in a status and written to the audit. */
export const MAX_NAME_ECHO = 128;

/** A client's device name as it is echoed and audited: clipped to MAX_NAME_ECHO units. */
export function clipName(name: string): string {
  return clipText(name, MAX_NAME_ECHO);
}

/** At most `max` UTF-16 units of `s`, cut back one unit rather than through a surrogate pair. */
export function clipText(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.charCodeAt(max - 1);
  // a high surrogate at the cut loses its low half: drop it too
  return s.slice(0, cut >= 0xd800 && cut <= 0xdbff ? max - 1 : max);
}

/** `s` with every lone surrogate replaced by U+FFFD, so it always has a UTF-8 form. */
export function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
