/**
 * Helpers of the fleet audit tests: an in-memory stand-in for a leaf's AUDIT stream (dedup by Nats-Msg-Id, a
 * byte cap with discard new, switchable outages), a checkpoint signer with a self-signed SVID-like certificate,
 * and reading a local audit directory back.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { svidCheckpointSigner, type CheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import type { AuditStreamPort } from '../../gateway/fleet/audit-stream-port.js';
import { isPayloadTooLargeError, isStreamFullError } from '../../gateway/fleet/audit-stream-nats.js';
import { buildCertificate, exportPkcs8, generateKeyPair, KeyUsage } from '../../gateway/identity/cert-builder.js';

export interface StoredMsg {
  readonly seq: number;
  readonly subject: string;
  readonly msgId: string;
  readonly body: Uint8Array;
}

export class FakeAuditStream implements AuditStreamPort {
  readonly msgs: StoredMsg[] = [];
  /** Every publish attempt, stored or not. */
  readonly attempts: { subject: string; msgId: string; body: string }[] = [];
  /** 'up' stores; 'down' rejects like an unanswered request; the cap rejects like nats-server's discard new. */
  state: 'up' | 'down' = 'up';
  maxBytes = Infinity;
  /** The connected leaf's max_payload (null: not connected); a larger message is refused like nats.js does. */
  payloadLimit: number | null = null;
  private seq = 0;
  private readonly ids = new Set<string>();

  publish(subject: string, body: Uint8Array, msgId: string): Promise<void> {
    this.attempts.push({ subject, msgId, body: Buffer.from(body).toString('utf8') });
    if (this.state === 'down') return Promise.reject(new Error('TIMEOUT'));
    // nats.js counts body + headers (`NATS/1.0\r\nNats-Msg-Id: …\r\n\r\n`) against the server's max_payload
    if (this.payloadLimit !== null && body.length + msgId.length + 27 > this.payloadLimit)
      return Promise.reject(new Error("'payload' max_payload size exceeded"));
    if (this.ids.has(msgId)) return Promise.resolve(); // duplicate: acked, stored once
    if (this.bytes() + body.length > this.maxBytes) return Promise.reject(new Error('maximum bytes exceeded'));
    this.ids.add(msgId);
    this.msgs.push({ seq: ++this.seq, subject, msgId, body });
    return Promise.resolve();
  }

  lastMessage(subject: string): Promise<Uint8Array | null> {
    if (this.state === 'down') return Promise.reject(new Error('TIMEOUT'));
    const m = this.msgs.filter((x) => x.subject === subject).at(-1);
    return Promise.resolve(m?.body ?? null);
  }

  isStreamFull(err: unknown): boolean {
    return isStreamFullError(err);
  }

  maxPayload(): number | null {
    return this.payloadLimit;
  }

  isTooLarge(err: unknown): boolean {
    return isPayloadTooLargeError(err);
  }

  bytes(): number {
    return this.msgs.reduce((n, m) => n + m.body.length, 0);
  }

  /** Drops everything (what `control` purging a drained edge stream does, minus the last block). */
  purgeAllBut(keepLastOf: string): void {
    const keep = this.msgs.filter((m) => m.subject === keepLastOf).at(-1);
    this.msgs.splice(0, this.msgs.length, ...(keep === undefined ? [] : [keep]));
  }

  blocks(
    subjectSuffix = '.events',
  ): { first: number; last: number; prev: string; head: string; events: AuditRecord[] }[] {
    return this.msgs
      .filter((m) => m.subject.endsWith(subjectSuffix))
      .map((m) => JSON.parse(Buffer.from(m.body).toString('utf8')) as never);
  }
}

export const SIGNER_ID = 'spiffe://plant.example/fleet/site/site-a/gateway/gw-1';

/** A checkpoint signer over a self-signed EC P-256 certificate naming `id`, and its certificate (the "bundle"). */
export async function testSigner(id = SIGNER_ID): Promise<{ signer: CheckpointSigner; certPem: string }> {
  const keys = await generateKeyPair();
  const cert = buildCertificate({
    subject: 'CN=gw',
    keys,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keyUsage: KeyUsage.digitalSignature,
    eku: null,
    uris: [id],
  });
  const privateKey = createPrivateKey({ key: exportPkcs8(keys.privateKey), format: 'der', type: 'pkcs8' });
  const chainPem = cert.toString();
  return { signer: svidCheckpointSigner(() => ({ privateKey, chainPem, spiffeId: id })), certPem: chainPem };
}

/** Every event of a local audit directory, in order. */
export function localRecords(dir: string): AuditRecord[] {
  return listSegments(dir).flatMap((s) =>
    readFileSync(join(dir, s), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as AuditRecord),
  );
}
