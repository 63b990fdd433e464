/**
 * Turns Workload API X.509 messages into our types. Every message is a full snapshot: what is absent was
 * withdrawn [SPIFFE_Workload_API 5.2]. The default identity is svids[0]. `snapshotKey` lets watchers drop
 * identical repeats (SPIRE resends on every cache update without dedup).
 */
import { createHash, type Hash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { BundleSet, X509Bundle } from './bundle-set.js';
import { parseX509Svid, type X509Svid } from './x509-svid.js';
import type { X509BundlesResponse, X509SvidResponse } from './workload-api-proto.js';

export interface X509Context {
  /** Non-empty; svids[0] is the default identity. */
  svids: X509Svid[];
  /** Bundles of the SVIDs' own trust domains plus federated bundles. */
  bundles: BundleSet;
}

function invalid(msg: string, cause?: unknown): GatewayError {
  return new GatewayError(
    'GW_ERR_IDENTITY_INVALID',
    `identity: Workload API ${msg}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Parses an X509SVIDResponse; throws GW_ERR_IDENTITY_INVALID on a malformed or empty snapshot. */
export function parseX509SvidResponse(resp: X509SvidResponse): X509Context {
  if (resp.svids.length === 0) throw invalid('X509SVIDResponse has no SVIDs');
  const svids = resp.svids.map((m, i) => {
    const svid = parseX509Svid(m.x509_svid, m.x509_svid_key, m.hint);
    if (m.spiffe_id !== '' && m.spiffe_id !== svid.id.toString()) {
      throw invalid(
        `SVID ${i}: spiffe_id ${JSON.stringify(m.spiffe_id)} differs from its certificate (${svid.id.toString()})`,
      );
    }
    return svid;
  });
  const own = resp.svids.map((m, i) => X509Bundle.fromDer((svids[i] as X509Svid).id.trustDomain, m.bundle));
  // BundleSet.of: later wins, so the default SVID's own bundle beats anything else for its trust domain.
  return { svids, bundles: BundleSet.of([...federated(resp.federated_bundles), ...own.reverse()]) };
}

/** Parses an X509BundlesResponse (bundles keyed by trust-domain ID `spiffe://td`). */
export function parseX509BundlesResponse(resp: X509BundlesResponse): BundleSet {
  return BundleSet.of(federated(resp.bundles));
}

function federated(map: Record<string, Buffer>): X509Bundle[] {
  return Object.entries(map).map(([tdId, der]) => X509Bundle.fromDer(tdId, der));
}

/** Digest of everything in a snapshot, map entries in sorted order, to detect identical repeats. */
export function x509SnapshotKey(resp: X509SvidResponse): string {
  const h = createHash('sha256');
  for (const s of resp.svids) {
    field(h, s.spiffe_id);
    field(h, s.x509_svid);
    field(h, s.x509_svid_key);
    field(h, s.bundle);
    field(h, s.hint);
  }
  field(h, '|crl');
  for (const c of resp.crl) field(h, c);
  mapFields(h, resp.federated_bundles);
  return h.digest('hex');
}

export function bundlesSnapshotKey(resp: X509BundlesResponse): string {
  const h = createHash('sha256');
  for (const c of resp.crl) field(h, c);
  mapFields(h, resp.bundles);
  return h.digest('hex');
}

/** Length-prefixed so field boundaries cannot be confused. */
function field(h: Hash, v: string | Buffer): void {
  const b = typeof v === 'string' ? Buffer.from(v) : v;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  h.update(len).update(b);
}

function mapFields(h: Hash, m: Record<string, Buffer>): void {
  for (const k of Object.keys(m).sort()) {
    field(h, k);
    field(h, m[k] as Buffer);
  }
}
