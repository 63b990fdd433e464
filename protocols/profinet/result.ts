/**
 * The result of decoding hostile bytes: a value, or a typed reason and a human detail for logs and audit.
 * Decoders never throw on input; every length is checked against the bytes that are present.
 */

/** Why a datagram, body, block or record was refused. Stable strings: audit events and metrics use them. */
export type PnReason =
  | 'truncated' // fewer bytes present than the structure (or a length field) needs
  | 'trailing-bytes' // more bytes than the length fields account for
  | 'rpc-version' // DCE/RPC version is not 4 (connectionless)
  | 'packet-type' // unknown or unexpected DCE/RPC packet type
  | 'drep' // data representation other than ASCII + big/little-endian integers
  | 'auth' // authentication protocol other than none (PNIO-CM uses none)
  | 'ndr' // NDR header inconsistent (ArgsLength/ActualCount/MaximumCount/Offset)
  | 'block-type' // a block of a type not allowed here
  | 'block-length' // BlockLength outside what the block type needs or beyond the data
  | 'block-version' // BlockVersionHigh/Low not supported
  | 'field-value' // a field with a value the spec forbids (opnum, ARType, string length, …)
  | 'mismatch' // an answer that does not belong to the call (activity, sequence, opnum, record address)
  | 'fragment' // fragment number, flags or contents inconsistent
  | 'too-large'; // over a configured bound (fragments, bytes, calls)

export type Decoded<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: PnReason; readonly detail: string };

export type Refusal = Extract<Decoded<never>, { ok: false }>;

export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

export function fail<T = never>(reason: PnReason, detail: string): Decoded<T> {
  return { ok: false, reason, detail };
}

/** Prefix a refusal's detail with where it happened, keeping its reason. */
export function within<T>(where: string, r: Refusal): Decoded<T> {
  return { ok: false, reason: r.reason, detail: `${where}: ${r.detail}` };
}

export const hex16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
