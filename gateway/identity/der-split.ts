/**
 * The Workload API sends certificates as DER concatenated with no separator [WORKLOAD-API X509SVID.x509_svid,
 * bundle]. Split by reading each outer SEQUENCE header: tag 0x30, then a short (< 0x80) or long (0x81..0x84
 * followed by that many big-endian length bytes) definite length [X.690 8.1.3]. Indefinite length (0x80) is
 * not DER and is refused.
 */
import { GatewayError } from '../errors.js';

export function trySplitDer(buf: Uint8Array): { ok: true; parts: Buffer[] } | { ok: false; reason: string } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const parts: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    if (b[off] !== 0x30) return { ok: false, reason: `expected SEQUENCE tag 0x30 at byte ${off}` };
    const first = b[off + 1];
    if (first === undefined) return { ok: false, reason: `truncated length at byte ${off + 1}` };
    let len: number;
    let header: number;
    if (first < 0x80) {
      len = first;
      header = 2;
    } else {
      const n = first & 0x7f;
      if (n === 0) return { ok: false, reason: `indefinite length at byte ${off + 1} is not DER` };
      if (n > 4) return { ok: false, reason: `length of ${n} bytes at byte ${off + 1} is too large` };
      if (off + 2 + n > b.length) return { ok: false, reason: `truncated length at byte ${off + 1}` };
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (b[off + 2 + i] ?? 0);
      header = 2 + n;
    }
    const end = off + header + len;
    if (end > b.length) return { ok: false, reason: `certificate at byte ${off} needs ${end - b.length} more bytes` };
    parts.push(Buffer.from(b.subarray(off, end)));
    off = end;
  }
  return { ok: true, parts };
}

/** Throws `GW_ERR_IDENTITY_INVALID` on malformed input; an empty buffer gives `[]`. */
export function splitDerCertificates(buf: Buffer): Buffer[] {
  const r = trySplitDer(buf);
  if (!r.ok) throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: cannot split DER certificates: ${r.reason}`);
  return r.parts;
}
