import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { splitDerCertificates } from '../../gateway/identity/x509-svid.js';
import { parseX509Svid, svidPem } from '../../gateway/identity/x509-svid.js';
import { trySplitDer } from '../../gateway/identity/der-split.js';
import { extractModbusRole, OID_MODBUS_ROLE } from '../../gateway/identity/modbus-role.js';
import {
  readCertFields,
  OID_EKU_CLIENT_AUTH,
  OID_EKU_SERVER_AUTH,
  type RawExtension,
} from '../../gateway/identity/cert-fields.js';
import { BundleSet, X509Bundle } from '../../gateway/identity/bundle-set.js';
import { DevCa, CA_CERT_FILE, CA_KEY_FILE } from '../../gateway/identity/dev-ca.js';
import { intermediate, leaf } from '../helpers/bad-certs.js';
import { makePki, TD } from '../helpers/pki.js';

const pki = await makePki();

t.test('DER split: short and long length forms [X.690 8.1.3]', async (t) => {
  const short = Buffer.from([0x30, 0x03, 1, 2, 3]);
  const long1 = Buffer.concat([Buffer.from([0x30, 0x81, 0x80]), Buffer.alloc(0x80, 7)]);
  const long2 = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), Buffer.alloc(0x100, 9)]);
  const parts = splitDerCertificates(Buffer.concat([short, long1, long2]));
  t.equal(parts.length, 3);
  t.same(parts[0], short);
  t.same(parts[1], long1);
  t.same(parts[2], long2);
  t.same(splitDerCertificates(Buffer.alloc(0)), []);
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/a` });
  const both = splitDerCertificates(Buffer.concat([m.chainDer[0]!, pki.ca.bundleDer()]));
  t.equal(both.length, 2, 'real certificates split');
  t.same(both[1], pki.ca.bundleDer());
});

t.test('DER split refuses malformed input', async (t) => {
  const table: Array<[number[], RegExp]> = [
    [[0x31, 0x00], /SEQUENCE tag/],
    [[0x30], /truncated length/],
    [[0x30, 0x80, 0x00, 0x00], /indefinite/],
    [[0x30, 0x85, 1, 1, 1, 1, 1], /too large/],
    [[0x30, 0x82, 0x01], /truncated length/],
    [[0x30, 0x05, 1, 2], /needs 3 more bytes/],
    [[0x30, 0x00, 0x04], /SEQUENCE tag 0x30 at byte 2/],
  ];
  for (const [bytes, re] of table) {
    const r = trySplitDer(Buffer.from(bytes));
    t.notOk(r.ok, Buffer.from(bytes).toString('hex'));
    if (!r.ok) t.match(r.reason, re);
  }
  t.throws(() => splitDerCertificates(Buffer.from([0x02, 0x01, 0x00])), { code: 'GW_ERR_IDENTITY_INVALID' });
});

function roleExt(value: Uint8Array): RawExtension {
  return { oid: OID_MODBUS_ROLE, critical: false, value: Buffer.from(value) };
}

t.test('Modbus role extension [MB-TCP-SEC]: exactly one UTF8String, else NULL', async (t) => {
  const issuer = pki.ca.issuerForTests();
  const der = async (over: Parameters<typeof leaf>[1]) => (await leaf(issuer, over)).chainDer[0]!;
  t.equal(extractModbusRole(await der({ roles: ['operator'] })), 'operator');
  t.equal(extractModbusRole(await der({ roles: ['Bediener-ü'] })), 'Bediener-ü', 'UTF-8 kept');
  t.equal(extractModbusRole(await der({})), null, 'absent → null');
  t.equal(extractModbusRole(await der({ roles: ['a', 'b'] })), null, 'duplicated → null');
  t.equal(extractModbusRole(await der({ roles: ['a', 'a'] })), null, 'duplicated even if equal → null');
  // PrintableString "op" instead of UTF8String
  t.equal(
    extractModbusRole(await der({ extra: [roleExt(Uint8Array.from([0x13, 0x02, 0x6f, 0x70]))] })),
    null,
    'wrong string type → null',
  );
  t.equal(
    extractModbusRole(await der({ extra: [roleExt(Uint8Array.from([0x0c, 0x02, 0x6f, 0x70, 0x00]))] })),
    null,
    'trailing bytes → null',
  );
  t.equal(
    extractModbusRole(await der({ extra: [roleExt(Uint8Array.from([0x0c, 0x05, 0x6f]))] })),
    null,
    'truncated → null',
  );
  t.equal(extractModbusRole(await der({ extra: [roleExt(Uint8Array.from([]))] })), null, 'empty → null');
  t.equal(extractModbusRole(Buffer.from('not a certificate')), null, 'garbage → null');
});

t.test('dev CA leaf profile is SPIRE-like (docs/architecture.md "SPIRE facts")', async (t) => {
  const before = Date.now();
  const m = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/hmi/line1`, role: 'operator' });
  t.equal(m.chainDer.length, 1);
  const f = readCertFields(m.chainDer[0]!);
  t.ok(f);
  t.same(f!.uriSans, [`spiffe://${TD}/hmi/line1`]);
  t.equal(f!.isCa, false);
  t.match(f!.keyUsage, {
    digitalSignature: true,
    keyEncipherment: true,
    keyAgreement: true,
    keyCertSign: false,
    cRLSign: false,
  });
  t.same([...f!.extKeyUsage!].sort(), [OID_EKU_SERVER_AUTH, OID_EKU_CLIENT_AUTH].sort());
  const cert = new X509Certificate(m.chainDer[0]!);
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'EC P-256');
  const nb = new Date(cert.validFrom).getTime();
  t.ok(nb <= before - 9_000 && nb >= before - 12_000, 'NotBefore = now − 10 s');
  const na = new Date(cert.validTo).getTime();
  t.ok(Math.abs(na - (before + 86_400_000)) < 5_000, 'default TTL 24 h');
  t.ok(cert.checkIssued(pki.ca.caCertificate()) && cert.verify(pki.ca.caCertificate().publicKey), 'signed by the CA');
  t.equal(extractModbusRole(m.chainDer[0]!), 'operator');
});

t.test('dev CA caps NotAfter at its own, refuses foreign and root IDs', async (t) => {
  const shortCa = await DevCa.create({ trustDomain: TD, caTtlSeconds: 60 });
  const m = await shortCa.mintX509Svid({ spiffeId: `spiffe://${TD}/x`, ttlSeconds: 86_400 });
  t.equal(
    new Date(new X509Certificate(m.chainDer[0]!).validTo).getTime(),
    Math.floor(shortCa.notAfter().getTime() / 1000) * 1000,
  );
  await t.rejects(pki.ca.mintX509Svid({ spiffeId: 'spiffe://other.org/x' }), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /cannot mint/,
  });
  await t.rejects(pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}` }), { code: 'GW_ERR_IDENTITY_INVALID' });
  await t.rejects(pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/x`, ttlSeconds: 0 }), {
    code: 'GW_ERR_IDENTITY_INVALID',
  });
  const nb = new Date('2030-01-01T00:00:00Z');
  const later = await pki.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/x`, notBefore: nb, ttlSeconds: 60 });
  t.equal(
    new Date(new X509Certificate(later.chainDer[0]!).validFrom).getTime(),
    nb.getTime(),
    'explicit NotBefore kept',
  );
  t.equal(pki.ca.signingKey().asymmetricKeyType, 'ec');
  t.ok(
    createPublicKey(pki.ca.signingKey())
      .export({ format: 'der', type: 'spki' })
      .equals(pki.ca.caCertificate().publicKey.export({ format: 'der', type: 'spki' })),
  );
});

t.test('dev CA loadOrCreate persists key and cert with 0600 and reloads the same CA', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vg-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const caDir = join(dir, 'nested', 'ca');
  const a = await DevCa.loadOrCreate(caDir, TD);
  for (const f of [CA_CERT_FILE, CA_KEY_FILE])
    t.equal((await stat(join(caDir, f))).mode & 0o777, 0o600, `${f} is 0600`);
  const b = await DevCa.loadOrCreate(caDir, `spiffe://${TD}`);
  t.same(b.bundleDer(), a.bundleDer(), 'same CA on reload');
  t.equal(await readFile(join(caDir, CA_CERT_FILE), 'utf8'), a.bundlePem());
  const m = await b.mintX509Svid({ spiffeId: `spiffe://${TD}/x` });
  t.ok(
    new X509Certificate(m.chainDer[0]!).verify(a.caCertificate().publicKey),
    'reloaded key signs for the stored cert',
  );
  await t.rejects(DevCa.loadOrCreate(caDir, 'other.org'), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /is for trust domain plant.example/,
  });
});

t.test('parseX509Svid: chain, key match, role, hint, PEM', async (t) => {
  const root = pki.ca.issuerForTests();
  const int = await intermediate(root);
  const m = await leaf(int.issuer, { roles: ['engineer'] });
  const svid = parseX509Svid(Buffer.concat([m.chainDer[0]!, int.der]), m.keyDer, 'internal');
  t.equal(svid.id.toString(), `spiffe://${TD}/client`);
  t.equal(svid.chain.length, 2);
  t.equal(svid.chainDer.length, 2);
  t.equal(svid.role, 'engineer');
  t.equal(svid.hint, 'internal');
  t.equal(svid.privateKey.asymmetricKeyType, 'ec');
  t.equal(svid.notAfter.getTime(), new Date(svid.chain[0]!.validTo).getTime());
  const { certPem, keyPem } = svidPem(svid);
  t.equal(certPem.match(/BEGIN CERTIFICATE/g)?.length, 2);
  t.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  t.ok(new X509Certificate(certPem).raw.equals(m.chainDer[0]!), 'PEM leaf first');
  t.notOk('hint' in parseX509Svid(m.chainDer[0]!, m.keyDer), 'no hint when absent');
});

t.test('parseX509Svid refuses bad SVIDs with GW_ERR_IDENTITY_INVALID', async (t) => {
  const issuer = pki.ca.issuerForTests();
  const a = await leaf(issuer);
  const b = await leaf(issuer);
  t.throws(() => parseX509Svid(a.chainDer[0]!, b.keyDer), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /does not match/,
  });
  t.throws(() => parseX509Svid(Buffer.alloc(0), a.keyDer), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /no certificate/,
  });
  t.throws(() => parseX509Svid(a.chainDer[0]!, Buffer.from('nope')), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /PKCS#8/,
  });
  const two = await leaf(issuer, { uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] });
  t.throws(() => parseX509Svid(two.chainDer[0]!, two.keyDer), { message: /exactly one URI SAN/ });
  const root = await leaf(issuer, { uris: [`spiffe://${TD}`] });
  t.throws(() => parseX509Svid(root.chainDer[0]!, root.keyDer), { message: /root/ });
  const ca = await leaf(issuer, { ca: true });
  t.throws(() => parseX509Svid(ca.chainDer[0]!, ca.keyDer), { message: /CA/ });
  const bad = await leaf(issuer, { uris: ['spiffe://UPPER/x'] });
  t.throws(() => parseX509Svid(bad.chainDer[0]!, bad.keyDer), { message: /not a SPIFFE ID/ });
});

t.test('bundles: own + federated, lookup by name or ID, PEM for TLS', async (t) => {
  const own = X509Bundle.fromDer(TD, pki.ca.bundleDer());
  t.equal(own.trustDomain.name, TD);
  t.equal(own.authorities.length, 1);
  t.ok(own.der().equals(pki.ca.bundleDer()));
  const two = X509Bundle.fromDer(`spiffe://${TD}`, Buffer.concat([pki.ca.bundleDer(), pki.otherCa.bundleDer()]));
  t.equal(two.authorities.length, 2, 'concatenated DER');
  t.equal(X509Bundle.fromPem(TD, two.pem()).authorities.length, 2, 'PEM round trip');
  const set = BundleSet.of([own, pki.otherCa.bundle()]);
  t.equal(set.get(TD), own);
  t.equal(set.get(`spiffe://${TD}`), own);
  t.equal(set.get(own.trustDomain), own);
  t.equal(set.get('other.org')?.trustDomain.name, 'other.org');
  t.equal(set.get('nobody.net'), undefined);
  t.same(set.trustDomains().sort(), ['other.org', TD]);
  const pems = set.allAuthoritiesPem();
  t.equal(pems.length, 2, 'federated authorities included');
  t.ok(pems.every((p) => p.startsWith('-----BEGIN CERTIFICATE-----')));
  t.equal(BundleSet.of([own, two]).get(TD), two, 'later bundle replaces earlier');
  t.throws(() => X509Bundle.fromDer(TD, Buffer.from([0x30, 0x01, 0x00])), { code: 'GW_ERR_IDENTITY_INVALID' });
  t.throws(() => X509Bundle.fromDer('Bad TD', pki.ca.bundleDer()), { code: 'GW_ERR_IDENTITY_INVALID' });
  t.throws(() => X509Bundle.fromPem(TD, 'nothing here'), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /no PEM certificate/,
  });
  t.throws(() => X509Bundle.fromPem(TD, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), {
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /cannot be parsed/,
  });
  t.equal(BundleSet.empty().all().length, 0);
  t.equal(set.has('other.org'), true);
});
