/**
 * The signed policy envelope (KV key `policy` of a site bucket, docs/fleet.md): the policy text of one site,
 * signed by `verigate control` with its X.509-SVID. The gateway applies an envelope only when every check
 * below passes; the checks run cheapest first and the answer is a value, never a throw (the envelope comes
 * over the network: hostile input).
 *
 * signature = ECDSA/RSA over SHA-256 (node:crypto `sign('sha256', …)`) of the canonical JSON (sorted keys, no
 * whitespace; gateway/audit/canonical-json.ts) of the envelope without `signature`. The signer's chain is
 * verified as an X.509-SVID against the gateway's trust bundle AT `signedAt` [X509-SVID 4, 5] — an envelope
 * stays valid after its signer's short-lived SVID expired, which is what an offline edge needs — and
 * `signedAt` may not lie more than 60 s in the future, so a signer cannot stretch its SVID's lifetime forward.
 * Nor backward: a key whose SVID expired long ago could otherwise sign any policy at any revision by backdating
 * `signedAt` into its validity. So a new revision must be signed no earlier than the one in force, and no longer
 * than `maxAgeMs` (MAX_SIGNED_AT_AGE_MS) ago: an expired key is useful for that long at most, and not at all
 * once an envelope signed after its expiry is in force. The cost: an edge offline for longer than the bound
 * refuses a policy signed before it went offline until it is published again (signed anew).
 */
import { createHash, sign, verify, X509Certificate } from 'node:crypto';
import { canonicalJson } from '../audit/canonical-json.js';
import type { BundleSet } from '../identity/bundle-set.js';
import { verifyPeerChain } from '../identity/peer-verifier.js';
import type { X509Svid } from '../identity/x509-svid.js';

export const POLICY_ENVELOPE_KIND = 'verigate.policy/v1';

/** How far `signedAt` may be ahead of the gateway's clock (clock skew between control and the edge). */
export const MAX_SIGNED_AT_SKEW_MS = 60_000;
/** How old `signedAt` of a new revision may be by default (gateway.yaml `fleet.policyMaxAge`): the scale of an SVID's lifetime, plus a day of edge outage. */
export const MAX_SIGNED_AT_AGE_MS = 24 * 3600_000;
/** Bounds on what a hostile envelope can make the gateway parse and hash. */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_CHAIN = 8;
const MAX_CERT_BASE64 = 16 * 1024;

export interface PolicyEnvelope {
  readonly kind: typeof POLICY_ENVELOPE_KIND;
  readonly site: string;
  readonly group: string | null;
  readonly revision: number;
  /** The policy.yaml text. */
  readonly policy: string;
  /** Hex SHA-256 of the UTF-8 policy text. */
  readonly sha256: string;
  readonly signedAt: string;
  /** The signer's SPIFFE ID (the chain's leaf must carry it). */
  readonly signer: string;
  /** Base64 DER certificates, leaf first. */
  readonly chain: readonly string[];
  readonly signature: string;
}

/** What the publisher decides; the rest of the envelope is derived. */
export interface PolicyEnvelopeFields {
  readonly site: string;
  readonly group?: string | null;
  readonly revision: number;
  readonly policy: string;
  /** Default: the current time. */
  readonly signedAt?: Date;
}

/** Why an envelope is refused: the one table (audit `policy.reload-failed` `code`, docs/fleet.md). */
export const ENVELOPE_REFUSALS = [
  'malformed',
  'wrong-site',
  'already-applied',
  'stale-revision',
  'signed-in-future',
  'signed-before-applied',
  'signed-too-long-ago',
  'sha256-mismatch',
  'untrusted-signer-chain',
  'signer-mismatch',
  'signer-not-allowed',
  'bad-signature',
  // the revision in force with another text (a republish after the key or bucket was lost): fleet-policy-apply.ts
  'revision-conflict',
] as const;
export type EnvelopeRefusal = (typeof ENVELOPE_REFUSALS)[number];

export type EnvelopeVerdict =
  | { readonly ok: true; readonly policyText: string; readonly revision: number }
  | { readonly ok: false; readonly code: EnvelopeRefusal; readonly detail: string };

export interface VerifyEnvelopeOptions {
  /** The gateway's trust bundles; the signer's chain is checked against the bundle of its own trust domain. */
  readonly bundle: BundleSet;
  /** `fleet.policySigners`: SPIFFE IDs allowed to sign policy. */
  readonly signers: readonly string[];
  readonly site: string;
  /** The revision in force (0 when none was ever applied from the fleet). */
  readonly appliedRevision: number;
  /** `signedAt` of the envelope in force, epoch ms (null: unknown, none applied or an older state file). */
  readonly appliedSignedAt?: number | null;
  /** Default MAX_SIGNED_AT_AGE_MS. */
  readonly maxAgeMs?: number;
  readonly now: Date;
}

export function policySha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The bytes the signature covers: canonical JSON of every member but `signature`. */
function signedBytes(e: Omit<PolicyEnvelope, 'signature'>): Buffer {
  const { kind, site, group, revision, policy, sha256, signedAt, signer, chain } = e;
  return Buffer.from(canonicalJson({ kind, site, group, revision, policy, sha256, signedAt, signer, chain }), 'utf8');
}

/** Signs `fields` with `svid` (the publisher's side; `verigate control policy publish`). */
export function signPolicyEnvelope(fields: PolicyEnvelopeFields, svid: X509Svid): PolicyEnvelope {
  const unsigned: Omit<PolicyEnvelope, 'signature'> = {
    kind: POLICY_ENVELOPE_KIND,
    site: fields.site,
    group: fields.group ?? null,
    revision: fields.revision,
    policy: fields.policy,
    sha256: policySha256(fields.policy),
    signedAt: (fields.signedAt ?? new Date()).toISOString(),
    signer: svid.id.toString(),
    chain: svid.chainDer.map((d) => d.toString('base64')),
  };
  const signature = sign('sha256', signedBytes(unsigned), svid.privateKey).toString('base64');
  return { ...unsigned, signature };
}

const iso = (ms: number): string => new Date(ms).toISOString();
const refuse = (code: EnvelopeRefusal, detail: string): EnvelopeVerdict => ({ ok: false, code, detail });

/** Verifies an envelope (parsed JSON of unknown shape) for this gateway; see the file comment for the checks. */
export function verifyPolicyEnvelope(input: unknown, opts: VerifyEnvelopeOptions): EnvelopeVerdict {
  const shape = parseEnvelope(input);
  if (typeof shape === 'string') return refuse('malformed', shape);
  const e = shape;
  if (e.site !== opts.site) return refuse('wrong-site', `envelope for site ${e.site}, this gateway is ${opts.site}`);
  if (e.revision === opts.appliedRevision)
    return refuse('already-applied', `revision ${e.revision} is the one in force`);
  if (e.revision < opts.appliedRevision)
    return refuse('stale-revision', `revision ${e.revision} is older than the applied ${opts.appliedRevision}`);
  const signedAt = Date.parse(e.signedAt);
  if (signedAt > opts.now.getTime() + MAX_SIGNED_AT_SKEW_MS)
    return refuse('signed-in-future', `signedAt ${e.signedAt} is more than 60 s ahead of ${opts.now.toISOString()}`);
  const applied = opts.appliedSignedAt ?? null;
  if (applied !== null && signedAt < applied)
    return refuse('signed-before-applied', `signedAt ${e.signedAt} is before the applied envelope's ${iso(applied)}`);
  const maxAgeMs = opts.maxAgeMs ?? MAX_SIGNED_AT_AGE_MS;
  if (signedAt < opts.now.getTime() - maxAgeMs)
    return refuse(
      'signed-too-long-ago',
      `signedAt ${e.signedAt} is more than ${maxAgeMs / 1000} s before ${opts.now.toISOString()}`,
    );
  if (policySha256(e.policy) !== e.sha256) return refuse('sha256-mismatch', 'sha256 does not match the policy text');
  return checkSigner(e, new Date(signedAt), opts);
}

function checkSigner(e: PolicyEnvelope, signedAt: Date, opts: VerifyEnvelopeOptions): EnvelopeVerdict {
  const chainDer = e.chain.map((c) => Buffer.from(c, 'base64'));
  const v = verifyPeerChain(chainDer, opts.bundle, signedAt);
  if (!v.ok) return refuse('untrusted-signer-chain', `${v.reason}: ${v.detail}`);
  const id = v.peer.id.toString();
  if (id !== e.signer) return refuse('signer-mismatch', `signer ${e.signer} but the chain's leaf is ${id}`);
  if (!opts.signers.includes(id)) return refuse('signer-not-allowed', `${id} is not in fleet.policySigners`);
  let good = false;
  try {
    const leaf = new X509Certificate(chainDer[0] as Buffer); // parsed fine above
    good = verify('sha256', signedBytes(e), leaf.publicKey, Buffer.from(e.signature, 'base64'));
  } catch {
    good = false;
  }
  if (!good) return refuse('bad-signature', `the signature does not verify with ${id}'s key`);
  return { ok: true, policyText: e.policy, revision: e.revision };
}

const MEMBERS = new Set([
  'kind',
  'site',
  'group',
  'revision',
  'policy',
  'sha256',
  'signedAt',
  'signer',
  'chain',
  'signature',
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** The envelope, or what is wrong with its shape. Unknown members are refused: every member is signed. */
function parseEnvelope(x: unknown): PolicyEnvelope | string {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return 'not a JSON object';
  const o = x as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !MEMBERS.has(k));
  if (extra !== undefined) return `unknown member ${JSON.stringify(extra.slice(0, 64))}`;
  if (o.kind !== POLICY_ENVELOPE_KIND) return `kind must be ${POLICY_ENVELOPE_KIND}`;
  for (const k of ['site', 'policy', 'sha256', 'signedAt', 'signer', 'signature'] as const)
    if (typeof o[k] !== 'string') return `${k} must be a string`;
  if (o.group !== null && typeof o.group !== 'string') return 'group must be a string or null';
  if (typeof o.revision !== 'number' || !Number.isSafeInteger(o.revision) || o.revision < 1)
    return 'revision must be a positive integer';
  if (Buffer.byteLength(o.policy as string, 'utf8') > MAX_POLICY_BYTES)
    return `policy text longer than ${MAX_POLICY_BYTES} bytes`;
  if (!ISO_TIME.test(o.signedAt as string) || Number.isNaN(Date.parse(o.signedAt as string)))
    return 'signedAt must be an ISO 8601 time';
  if (!BASE64.test(o.signature as string) || (o.signature as string).length > 1024) return 'signature must be base64';
  const chain = o.chain;
  if (!Array.isArray(chain) || chain.length === 0 || chain.length > MAX_CHAIN)
    return `chain must hold 1..${MAX_CHAIN} certificates`;
  if (!chain.every((c) => typeof c === 'string' && c.length <= MAX_CERT_BASE64 && BASE64.test(c)))
    return 'chain entries must be base64 DER certificates';
  return o as unknown as PolicyEnvelope;
}
