/**
 * RFC 5280 path building for a peer's X.509-SVID (peer-verifier.ts step 5): from the leaf through the peer's
 * own intermediates to an authority of the leaf's trust domain bundle, with every certificate on the path
 * within its validity. Synchronous (it runs inside TLS callbacks) and before the peer is authenticated, so
 * its work is bounded: see validatePath.
 */
import type { X509Certificate } from 'node:crypto';
import { unprocessedCriticalExtension, type CertFields } from './cert-fields.js';
import type { ValidityWindow } from './verified-chain-cache.js';

/** Longest chain we try to build; real SVID chains are 1–3 certificates. */
export const MAX_PATH = 8;
/** Signature checks one verification may make (Go's crypto/x509 allows as many: maxChainSignatureChecks). */
const MAX_SIGNATURE_CHECKS = 100;
/** Partial paths one verification may extend. */
const MAX_SEARCH_STEPS = 1000;

/** A certificate with the fields Node does not expose, read once (cert-fields.ts). */
export interface Parsed {
  readonly cert: X509Certificate;
  readonly fields: CertFields;
}

/** Why no path: the subset of peer-verifier.ts's reasons path building gives. */
export interface PathRefusal {
  readonly ok: false;
  readonly reason: 'untrusted-chain' | 'expired' | 'not-yet-valid';
  readonly detail: string;
}

const refuse = (reason: PathRefusal['reason'], detail: string): PathRefusal => ({ ok: false, reason, detail });

/**
 * Depth-first path building from the leaf through the peer's intermediates to one of `anchors`.
 * A signature-valid path whose certificates are all within validity wins; otherwise the first
 * signature-valid path's time error is reported; with no signature-valid path: untrusted-chain.
 *
 * This runs before the peer is authenticated, on the event loop, so its work is bounded, not only its input:
 * intermediates that share one name and key all "issue" each other, and a search that tries every ordering
 * of seven of them makes thousands of signature checks (over a second of CPU per connection). Each
 * (issuer, subject) pair is checked once per verification, at most MAX_SIGNATURE_CHECKS checks are made (as
 * Go's crypto/x509, maxChainSignatureChecks) and at most MAX_SEARCH_STEPS partial paths extended; past either
 * bound the chain is refused.
 */
export function validatePath(
  leaf: Parsed,
  intermediates: readonly Parsed[],
  anchors: readonly X509Certificate[],
  now: Date,
): { ok: true; window: ValidityWindow } | PathRefusal {
  let firstTimeError: PathRefusal | null = null;
  let found: readonly X509Certificate[] | null = null;
  const issued = new IssuerMemo(leaf.cert, anchors, intermediates);
  let steps = 0;
  // `path` holds subject indexes: 0 the leaf, i + 1 intermediate i.
  const search = (path: number[], used: number): boolean => {
    if (++steps > MAX_SEARCH_STEPS) return false;
    const depth = path.length;
    const cur = path[depth - 1] as number;
    for (let a = 0; a < anchors.length; a++) {
      if (!issued.byAnchor(a, cur)) continue;
      const full = [leaf.cert, ...path.slice(1).map((s) => (intermediates[s - 1] as Parsed).cert), anchors[a]!];
      const timeErr = checkTimes(full, now);
      if (timeErr === null) {
        found = full;
        return true;
      }
      firstTimeError ??= timeErr;
    }
    if (depth >= MAX_PATH) return false;
    for (let i = 0; i < intermediates.length; i++) {
      if ((used & (1 << i)) !== 0 || !canIssue(intermediates[i] as Parsed, depth - 1)) continue;
      if (!issued.byIntermediate(i, cur)) continue;
      path.push(i + 1);
      if (search(path, used | (1 << i))) return true;
      path.pop();
    }
    return false;
  };
  if (search([0], 0) && found !== null) return { ok: true, window: windowOf(found) };
  if (issued.exhausted || steps > MAX_SEARCH_STEPS)
    return refuse(
      'untrusted-chain',
      `path building stopped after ${issued.checks} signature checks and ${Math.min(steps, MAX_SEARCH_STEPS)} steps`,
    );
  return (
    firstTimeError ?? refuse('untrusted-chain', 'no path from the leaf to an authority of its own trust domain bundle')
  );
}

/**
 * Whether an anchor or an intermediate issued a subject (0: the leaf, i + 1: intermediate i), each pair checked
 * once and at most MAX_SIGNATURE_CHECKS checks in all (then every answer is no: see validatePath).
 */
class IssuerMemo {
  /** 0 not asked yet, 1 issued, 2 did not (or the budget ran out). Rows: anchors, then intermediates. */
  private readonly known: Uint8Array;
  private readonly subjects: number;
  checks = 0;
  exhausted = false;

  constructor(
    private readonly leaf: X509Certificate,
    private readonly anchors: readonly X509Certificate[],
    private readonly intermediates: readonly Parsed[],
  ) {
    this.subjects = intermediates.length + 1;
    this.known = new Uint8Array((anchors.length + intermediates.length) * this.subjects);
  }

  byAnchor(a: number, subject: number): boolean {
    return this.ask(a, this.anchors[a]!, subject);
  }

  byIntermediate(i: number, subject: number): boolean {
    return this.ask(this.anchors.length + i, (this.intermediates[i] as Parsed).cert, subject);
  }

  private ask(row: number, issuer: X509Certificate, subject: number): boolean {
    const at = row * this.subjects + subject;
    const k = this.known[at];
    if (k !== 0) return k === 1;
    let yes = false;
    if (this.checks < MAX_SIGNATURE_CHECKS) {
      this.checks++;
      yes = issues(issuer, this.subjectCert(subject));
    } else this.exhausted = true;
    this.known[at] = yes ? 1 : 2;
    return yes;
  }

  private subjectCert(subject: number): X509Certificate {
    return subject === 0 ? this.leaf : (this.intermediates[subject - 1] as Parsed).cert;
  }
}

/** The instants at which every certificate of `path` is valid [RFC 5280 6.1.3 (a)(2)]. */
function windowOf(path: readonly X509Certificate[]): ValidityWindow {
  let from = -Infinity;
  let until = Infinity;
  for (const c of path) {
    from = Math.max(from, new Date(c.validFrom).getTime());
    until = Math.min(until, new Date(c.validTo).getTime());
  }
  return { from, until };
}

/** [RFC 5280 6.1.4 (k), (l), (n)] an intermediate must be a CA, allowed to sign certs, within pathLen. */
function canIssue(p: Parsed, intermediatesBelow: number): boolean {
  if (!p.fields.isCa || unprocessedCriticalExtension(p.fields) !== null) return false; // [RFC 5280 4.2]
  if (p.fields.keyUsage !== null && !p.fields.keyUsage.keyCertSign) return false;
  return p.fields.pathLen === null || intermediatesBelow <= p.fields.pathLen;
}

function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkTimes(path: readonly X509Certificate[], now: Date): PathRefusal | null {
  const t = now.getTime();
  for (const [i, c] of path.entries()) {
    const who = i === 0 ? 'the leaf' : i === path.length - 1 ? 'the trust anchor' : `intermediate ${i}`;
    if (t > new Date(c.validTo).getTime())
      return refuse('expired', `${who} expired at ${new Date(c.validTo).toISOString()}`);
    if (t < new Date(c.validFrom).getTime())
      return refuse('not-yet-valid', `${who} is not valid before ${new Date(c.validFrom).toISOString()}`);
  }
  return null;
}
