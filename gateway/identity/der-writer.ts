/**
 * DER encoders for the certificate builder (cert-builder.ts): definite shortest lengths, minimal INTEGERs,
 * named-bit BIT STRINGs without trailing zero bits [X.690 10, 11.2.2]. Input is ours (dev CA, tests), not a
 * peer's; OpenSSL parses every result in the tests.
 */
import { TAG } from './der-reader.js';

export function tlv(tag: number, body: Uint8Array): Buffer {
  const n = body.length;
  let head: number[];
  if (n < 0x80) head = [tag, n];
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    head = [tag, 0x80 | len.length, ...len];
  }
  return Buffer.concat([Buffer.from(head), body]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(parts));
export const set = (...parts: Uint8Array[]): Buffer => tlv(TAG.SET, Buffer.concat(parts));
export const octets = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const utf8 = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
export const printable = (s: string): Buffer => tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
export const ia5 = (tag: number, s: string): Buffer => tlv(tag, Buffer.from(s, 'latin1'));
export const bool = (v: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
/** `[n]` EXPLICIT: a constructed context tag around one element. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedInt(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(TAG.INTEGER, ((m[0] ?? 0) & 0x80) !== 0 || m.length === 0 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

export function smallInt(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInt(Uint8Array.from(bytes));
}

/** BIT STRING of named bits: bit i of `flags` is named bit i; trailing zero bits are dropped [X.690 11.2.2]. */
export function namedBits(flags: number): Buffer {
  if (flags === 0) return tlv(TAG.BIT_STRING, Buffer.from([0]));
  const high = 31 - Math.clz32(flags);
  const bytes = Buffer.alloc((high >> 3) + 1);
  for (let i = 0; i <= high; i++) if (flags & (1 << i)) bytes[i >> 3] = (bytes[i >> 3] as number) | (0x80 >> (i & 7));
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([bytes.length * 8 - (high + 1)]), bytes]));
}

/** A BIT STRING holding whole bytes (signatures, public keys). */
export const bitString = (b: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), b]));

/** UTCTime through 2049, GeneralizedTime from 2050 [RFC 5280 4.1.2.5]; whole seconds, UTC. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'latin1'));
}
