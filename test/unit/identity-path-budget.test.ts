/**
 * Path building runs before the peer is authenticated, so its work is bounded (path-builder.ts). Counted, not
 * timed: the signature checks one verification makes. A chain of seven intermediates that share one name and
 * one key (each "issues" every other) made the old depth-first search try every ordering: about 13,700
 * signature checks, over a second of the event loop per connection.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import {
  buildCertificate,
  generateKeyPair,
  KeyUsage,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  type KeyPair,
} from '../../gateway/identity/cert-builder.js';
import { verifyPeerChain } from '../../gateway/identity/peer-verifier.js';
import { intermediate, leaf } from '../helpers/bad-certs.js';
import { makePki, TD } from '../helpers/pki.js';

const pki = await makePki();
const HOUR = 3_600_000;

/** Counts X509Certificate.verify calls (one per signature check) while `fn` runs. */
function countingChecks<T>(fn: () => T): { value: T; checks: number } {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with its `this`
  const real = X509Certificate.prototype.verify;
  let checks = 0;
  X509Certificate.prototype.verify = function (this: X509Certificate, key) {
    checks++;
    return real.call(this, key);
  };
  try {
    return { value: fn(), checks };
  } finally {
    X509Certificate.prototype.verify = real;
  }
}

/** `n` self-signed CA certificates with one name and one key: each verifies as the issuer of every other. */
function mutualIssuers(keys: KeyPair, n: number): X509Certificate[] {
  const now = Date.now();
  return Array.from({ length: n }, () =>
    buildCertificate({
      subject: 'O=decoy, CN=int',
      keys,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + HOUR),
      ca: true,
      keyUsage: KeyUsage.keyCertSign,
      eku: null,
    }),
  );
}

t.test('seven mutually issuing intermediates: refused within the signature-check budget', async (t) => {
  const keys = await generateKeyPair();
  const decoys = mutualIssuers(keys, 7);
  const leafKeys = await generateKeyPair();
  const now = Date.now();
  const attacker = buildCertificate({
    subject: 'O=x',
    keys: leafKeys,
    issuer: { cert: decoys[0]!, key: keys.privateKey },
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + HOUR),
    keyUsage: KeyUsage.digitalSignature,
    eku: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
    uris: [`spiffe://${TD}/attacker`],
  });
  const chain = [attacker, ...decoys].map((c) => Buffer.from(c.raw));
  const { value: r, checks } = countingChecks(() => verifyPeerChain(chain, pki.bundles, new Date()));
  t.match(r, { ok: false, reason: 'untrusted-chain' });
  if (!r.ok) t.match(r.detail, /path building stopped/, 'says it gave up, not that no path exists');
  // one per (issuer, subject) pair at most: (1 anchor + 7 intermediates) × 8 subjects = 64, within the 100
  t.ok(checks <= 100, `${checks} signature checks (the old search: about 13,700)`);
});

t.test('decoys beside a real intermediate: the real path is still found, each pair checked once', async (t) => {
  const int = await intermediate(pki.ca.issuerForTests());
  const m = await leaf(int.issuer);
  const decoys = mutualIssuers(await generateKeyPair(), 6).map((c) => Buffer.from(c.raw));
  const { value: r, checks } = countingChecks(() =>
    verifyPeerChain([m.chainDer[0]!, ...decoys, int.der], pki.bundles, new Date()),
  );
  t.ok(r.ok, 'leaf + intermediate verify with six decoys in between');
  t.ok(checks <= 100, `${checks} signature checks`);
});

t.test('a chain that cannot reach the bundle is refused as before, with the usual detail', async (t) => {
  const keys = await generateKeyPair();
  const [decoy] = mutualIssuers(keys, 1);
  const m = await leaf({ cert: decoy!, key: keys.privateKey });
  const r = verifyPeerChain([m.chainDer[0]!, Buffer.from(decoy!.raw)], pki.bundles, new Date());
  t.match(r, { ok: false, reason: 'untrusted-chain', detail: /no path from the leaf/ });
});
