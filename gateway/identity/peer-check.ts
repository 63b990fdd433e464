/**
 * The verdict on a client's X.509-SVID chain in the form the front doors and the trust runtime consume: the
 * SPIFFE ID as a string, the Modbus/TCP Security role, the validity window and the leaf fingerprint — or a
 * reject reason code with a detail. Defined here, on the identity side, so that identity never imports
 * front-door types (docs/architecture.md: the front doors depend on identity, not the other way round).
 */

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

export type PeerCheck = { ok: true; peer: VerifiedPeer } | { ok: false; reason: string; detail: string };
