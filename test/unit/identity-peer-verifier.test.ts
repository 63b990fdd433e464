import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { verifyPeerChain, type RejectReason } from '../../gateway/identity/peer-verifier.js';
import { BundleSet } from '../../gateway/identity/bundle-set.js';
import { UNKNOWN_CRITICAL, intermediate, leaf, tlsMatrix, verifierOnly } from '../helpers/bad-certs.js';
import { makePki, OTHER_TD, TD } from '../helpers/pki.js';

const pki = await makePki();
const now = () => new Date();

t.test('a good SVID verifies: ID, role, validity, fingerprint', async (t) => {
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/hmi/line1`, role: 'operator' });
  const r = verifyPeerChain(m.chainDer, pki.bundles, now());
  t.ok(r.ok);
  if (!r.ok) return;
  const cert = new X509Certificate(m.chainDer[0]!);
  t.equal(r.peer.id.toString(), `spiffe://${TD}/hmi/line1`);
  t.equal(r.peer.role, 'operator');
  t.equal(r.peer.notAfter.getTime(), new Date(cert.validTo).getTime());
  t.equal(r.peer.notBefore.getTime(), new Date(cert.validFrom).getTime());
  t.equal(r.peer.fingerprint256, cert.fingerprint256);
});

t.test('a federated SVID verifies against its own (other.org) bundle', async (t) => {
  const m = await pki.otherCa.mintX509Svid({ spiffeId: `spiffe://${OTHER_TD}/historian` });
  const r = verifyPeerChain(m.chainDer, pki.bundles, now());
  t.ok(r.ok);
  if (r.ok) t.equal(r.peer.role, null);
});

t.test('every reject reason from the matrix builders', async (t) => {
  const seen = new Set<RejectReason>();
  for (const c of [...tlsMatrix, ...verifierOnly]) {
    const m = await c.build(pki);
    const r = verifyPeerChain(m.chainDer, pki.bundles, now());
    const want = c.reason;
    t.match(r, { ok: false, reason: want }, `${c.name} → ${want}`);
    if (!r.ok) {
      t.type(r.detail, 'string');
      t.ok(r.detail.length > 0);
      seen.add(r.reason);
    }
  }
  t.match(verifyPeerChain([], pki.bundles, now()), { ok: false, reason: 'no-certificate' });
  t.match(verifyPeerChain([Buffer.alloc(0)], pki.bundles, now()), { ok: false, reason: 'no-certificate' });
  seen.add('no-certificate');
  const all: RejectReason[] = [
    'no-certificate',
    'no-uri-san',
    'multiple-uri-sans',
    'invalid-spiffe-id',
    'root-path-id',
    'leaf-is-ca',
    'missing-digital-signature',
    'leaf-key-cert-sign',
    'leaf-crl-sign',
    'bad-extended-key-usage',
    'no-bundle-for-trust-domain',
    'untrusted-chain',
    'expired',
    'not-yet-valid',
  ];
  t.same([...seen].sort(), [...all].sort(), 'all 14 reasons are produced');
});

t.test('federated CA minting our ID: trusted under the union, refused under the own-domain rule', async (t) => {
  const m = await leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/hmi/line1`] });
  t.match(verifyPeerChain(m.chainDer, pki.bundles, now()), { ok: false, reason: 'untrusted-chain' });
  // With only other.org's bundle there is no bundle for our trust domain at all.
  t.match(verifyPeerChain(m.chainDer, BundleSet.of([pki.otherCa.bundle()]), now()), {
    ok: false,
    reason: 'no-bundle-for-trust-domain',
  });
  // Even an intermediate of our CA sent along does not help: the leaf is not signed by it.
  t.match(verifyPeerChain([...m.chainDer, pki.ca.bundleDer()], pki.bundles, now()), {
    ok: false,
    reason: 'untrusted-chain',
  });
});

t.test('checks run in the specified order', async (t) => {
  const issuer = pki.ca.issuerForTests();
  // two URI SANs AND a CA leaf: the SAN check comes first
  const a = await leaf(issuer, { uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`], ca: true });
  t.match(verifyPeerChain(a.chainDer, pki.bundles, now()), { reason: 'multiple-uri-sans' });
  // CA leaf AND no digitalSignature: cA check first
  const b = await leaf(issuer, { ca: true, keyUsage: 0x20 });
  t.match(verifyPeerChain(b.chainDer, pki.bundles, now()), { reason: 'leaf-is-ca' });
  // bad leaf rule AND untrusted: leaf rules come before the bundle
  const c = await leaf(null, { keyUsage: null });
  t.match(verifyPeerChain(c.chainDer, pki.bundles, now()), { reason: 'missing-digital-signature' });
  // unknown trust domain AND self-signed: bundle lookup before path validation
  const d = await leaf(null, { uris: ['spiffe://nobody.net/x'] });
  t.match(verifyPeerChain(d.chainDer, pki.bundles, now()), { reason: 'no-bundle-for-trust-domain' });
});

t.test('validity is judged at the given time', async (t) => {
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/x`, ttlSeconds: 3600 });
  t.ok(verifyPeerChain(m.chainDer, pki.bundles, now()).ok);
  t.match(verifyPeerChain(m.chainDer, pki.bundles, new Date(Date.now() + 2 * 3600_000)), {
    reason: 'expired',
    detail: /the leaf expired/,
  });
  t.match(verifyPeerChain(m.chainDer, pki.bundles, new Date(Date.now() - 3600_000)), { reason: 'not-yet-valid' });
  t.match(
    verifyPeerChain(m.chainDer, pki.bundles, new Date(Date.now() + 60 * 86_400_000)),
    { reason: 'expired' },
    'past the CA too',
  );
});

t.test('chains through intermediates', async (t) => {
  const root = pki.ca.issuerForTests();
  const int = await intermediate(root);
  const m = await leaf(int.issuer);
  t.ok(verifyPeerChain([m.chainDer[0]!, int.der], pki.bundles, now()).ok, 'leaf + intermediate');
  t.match(verifyPeerChain([m.chainDer[0]!], pki.bundles, now()), { reason: 'untrusted-chain' }, 'missing intermediate');

  const notCa = await intermediate(root, { ca: false });
  const m2 = await leaf(notCa.issuer);
  t.match(
    verifyPeerChain([m2.chainDer[0]!, notCa.der], pki.bundles, now()),
    { reason: 'untrusted-chain' },
    'non-CA intermediate',
  );

  const noSign = await intermediate(root, { keyUsage: 0x01 });
  const m3 = await leaf(noSign.issuer);
  t.match(
    verifyPeerChain([m3.chainDer[0]!, noSign.der], pki.bundles, now()),
    { reason: 'untrusted-chain' },
    'intermediate without keyCertSign',
  );

  const constrained = await intermediate(root, { extra: [UNKNOWN_CRITICAL] });
  const mc = await leaf(constrained.issuer);
  t.match(
    verifyPeerChain([mc.chainDer[0]!, constrained.der], pki.bundles, now()),
    { reason: 'untrusted-chain' },
    'an intermediate with a critical extension not processed here [RFC 5280 4.2]',
  );
  const known = await intermediate(root, { extra: [{ ...UNKNOWN_CRITICAL, critical: false }] });
  const mk = await leaf(known.issuer);
  t.ok(verifyPeerChain([mk.chainDer[0]!, known.der], pki.bundles, now()).ok, 'the same extension, not critical: fine');

  const top = await intermediate(root, { pathLen: 0 });
  const sub = await intermediate(top.issuer);
  const m4 = await leaf(sub.issuer);
  t.match(
    verifyPeerChain([m4.chainDer[0]!, sub.der, top.der], pki.bundles, now()),
    { reason: 'untrusted-chain' },
    'pathLen 0 exceeded',
  );
  const top1 = await intermediate(root, { pathLen: 1 });
  const sub1 = await intermediate(top1.issuer);
  const m5 = await leaf(sub1.issuer);
  t.ok(verifyPeerChain([m5.chainDer[0]!, sub1.der, top1.der], pki.bundles, now()).ok, 'pathLen 1 allows one more');

  const shortInt = await intermediate(root, { notAfter: new Date(Date.now() + 60_000) });
  const m6 = await leaf(shortInt.issuer);
  t.match(verifyPeerChain([m6.chainDer[0]!, shortInt.der], pki.bundles, new Date(Date.now() + 120_000)), {
    reason: 'expired',
    detail: /intermediate 1/,
  });
});

t.test('hostile chains never throw', async (t) => {
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/x` });
  const leafDer = m.chainDer[0]!;
  t.match(verifyPeerChain([Buffer.from('garbage')], pki.bundles, now()), { ok: false, reason: 'untrusted-chain' });
  t.match(verifyPeerChain([leafDer, Buffer.from([0x30, 0x00])], pki.bundles, now()), {
    ok: false,
    reason: 'untrusted-chain',
  });
  t.match(verifyPeerChain(Array(9).fill(leafDer), pki.bundles, now()), {
    ok: false,
    reason: 'untrusted-chain',
    detail: /too long/,
  });
  const flipped = Buffer.from(leafDer);
  const at = flipped.length - 5;
  flipped[at] = (flipped[at] ?? 0) ^ 0xff; // corrupt the signature
  t.match(verifyPeerChain([flipped], pki.bundles, now()), { ok: false, reason: 'untrusted-chain' });
  for (let i = 0; i < 100; i++) {
    const b = Buffer.from(leafDer);
    const k = Math.floor(Math.random() * b.length);
    b[k] = (b[k] ?? 0) ^ (1 << Math.floor(Math.random() * 8));
    t.doesNotThrow(() => verifyPeerChain([b], pki.bundles, now()));
  }
});
