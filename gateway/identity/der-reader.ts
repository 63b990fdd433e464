/**
 * A strict, bounded DER reader for the few certificate parts Node 20's `X509Certificate` does not expose
 * (extensions: KeyUsage bits, basicConstraints pathLen, URI SANs, EKU OIDs, the Modbus role) [X.690 8.1, 10].
 * Only what X.509 uses: low tag numbers (< 31), definite lengths of at most 4 length bytes. Every read is
 * checked against the end of its enclosing element, so a crafted length can never reach outside it.
 * Hostile input: returns `null`, never throws.
 */

/**
 * One TLV: `tag` is the identifier octet, the element is `buf[at, end)`, its contents `buf[start, end)`; the next
 * element starts at `end`.
 */
export interface Tlv {
  readonly tag: number;
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** The TLV at `off`, which must end at or before `limit`; null when malformed or not DER. */
export function readTlv(buf: Uint8Array, off: number, limit: number = buf.length): Tlv | null {
  if (off + 2 > limit) return null;
  const tag = buf[off] as number;
  if ((tag & 0x1f) === 0x1f) return null; // high tag number form: never used by X.509
  const first = buf[off + 1] as number;
  let len = first;
  let start = off + 2;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) return null; // indefinite length is BER, not DER
    if (start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    if (len < 0x80 || (n > 1 && buf[start] === 0)) return null; // DER: shortest length form [X.690 10.1]
    start += n;
  }
  const end = start + len;
  return end > limit ? null : { tag, at: off, start, end };
}

/** The children of a constructed element, in order; null when any child is malformed or they overrun it. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  let off = parent.start;
  while (off < parent.end) {
    const t = readTlv(buf, off, parent.end);
    if (t === null) return null;
    out.push(t);
    off = t.end;
  }
  return out;
}

/** `buf` must hold exactly one element with `tag`, nothing before or after. */
export function readWhole(buf: Uint8Array, tag: number): Tlv | null {
  const t = readTlv(buf, 0);
  return t !== null && t.tag === tag && t.end === buf.length ? t : null;
}

export function contents(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

/** Dotted OID from an OBJECT IDENTIFIER's contents [X.690 8.19]; null when malformed or an arc exceeds 2^53. */
export function oidString(c: Uint8Array): string | null {
  if (c.length === 0 || (c[c.length - 1] as number) & 0x80) return null;
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    const b = c[i] as number;
    if (v === 0 && b === 0x80) return null; // DER: no leading 0x80 padding in an arc
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) return null;
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/** A non-negative INTEGER of at most 4 content bytes (pathLenConstraint); null otherwise. */
export function smallUnsigned(c: Uint8Array): number | null {
  if (c.length === 0 || c.length > 4 || ((c[0] as number) & 0x80) !== 0) return null;
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** BOOLEAN contents: DER allows only 0x00 and 0xFF [X.690 11.1]. */
export function booleanValue(c: Uint8Array): boolean | null {
  if (c.length !== 1) return null;
  return c[0] === 0xff ? true : c[0] === 0x00 ? false : null;
}

/** Bit `n` of a BIT STRING's contents (first byte = unused-bit count); bit 0 is the MSB of the first value byte. */
export function bitStringBits(c: Uint8Array): ((n: number) => boolean) | null {
  if (c.length === 0 || (c[0] as number) > 7 || (c.length === 1 && c[0] !== 0)) return null;
  return (n) => (((c[1 + (n >> 3)] ?? 0) >> (7 - (n & 7))) & 1) === 1;
}
