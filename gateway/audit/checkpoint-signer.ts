/**
 * Checkpoint signers. The gateway signs with its current SVID key (EC P-256 → ES256 via node:crypto sign,
 * IEEE P1363 r||s as in JWS); `getSvid` is called per checkpoint so SVID rotation needs no re-wiring.
 * No import of gateway/identity: the composition root passes a closure.
 */
import { sign, type KeyObject } from 'node:crypto';

export interface CheckpointSignature {
  readonly alg: string;
  /** base64url; ECDSA in IEEE P1363 (r||s) form as in JWS. */
  readonly sig: string;
  readonly spiffeId: string;
  readonly certChainPem: string;
}

export interface CheckpointSigner {
  sign(data: Buffer): CheckpointSignature;
}

/** Algorithm name (JWS style) for a key, or null when unsupported. */
export function algFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    return null;
  }
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  return null;
}

export function hashFor(alg: string): string | null {
  if (alg === 'ES256' || alg === 'RS256') return 'sha256';
  if (alg === 'ES384') return 'sha384';
  if (alg === 'EdDSA') return null;
  throw new Error(`audit: unsupported checkpoint alg ${alg}`);
}

export function signWithKey(key: KeyObject, alg: string, data: Buffer): string {
  const sig = sign(hashFor(alg), data, { key, dsaEncoding: 'ieee-p1363' });
  return sig.toString('base64url');
}

/**
 * A signer over the gateway's current SVID. `getSvid` is called for every checkpoint so a rotated SVID is
 * picked up without re-wiring (the gateway passes its X509 source's current value).
 */
export function svidCheckpointSigner(
  getSvid: () => { privateKey: KeyObject; chainPem: string; spiffeId: string },
): CheckpointSigner {
  return {
    sign(data: Buffer): CheckpointSignature {
      const svid = getSvid();
      const alg = algFor(svid.privateKey);
      if (alg === null)
        throw new Error(`audit: SVID key type ${String(svid.privateKey.asymmetricKeyType)} cannot sign checkpoints`);
      return {
        alg,
        sig: signWithKey(svid.privateKey, alg, data),
        spiffeId: svid.spiffeId,
        certChainPem: svid.chainPem,
      };
    },
  };
}
