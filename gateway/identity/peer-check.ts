/**
 * The verdict on a client's X.509-SVID chain in the form the front doors and the trust runtime consume: the
 * SPIFFE ID as a string, the Modbus/TCP Security role, the validity window and the leaf fingerprint — or a
 * reject reason code with a detail; with the verified chain, which the live session stands on until it ends (a
 * trust bundle change verifies it again, frontdoor/live-chains.ts). Defined here, on the identity side, so that
 * identity never imports front-door types (docs/architecture.md: the front doors depend on identity, not the other
 * way round).
 */
import type { X509Certificate } from 'node:crypto';

export interface VerifiedPeer {
  /** SPIFFE ID as a string (`spiffe://td/path`). */
  readonly id: string;
  /** Modbus/TCP Security role from the certificate, or null [MB-TCP-SEC R-21]. */
  readonly role: string | null;
  readonly notAfter: Date;
  /** When the SVID began; absent when unknown. */
  readonly notBefore?: Date;
  readonly fingerprint256: string;
}

/** What verifying a live session's chain again under new bundles says. */
export type ChainCheck = { ok: true } | { ok: false; reason: string; detail: string };

/** The handshake's verdict. `chain`: the certificates verified, leaf first (opaque to the front doors). */
export type PeerCheck =
  { ok: true; peer: VerifiedPeer; chain: readonly X509Certificate[] } | { ok: false; reason: string; detail: string };
