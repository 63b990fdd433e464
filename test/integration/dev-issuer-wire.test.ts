/**
 * The dev issuer speaks the real Workload API wire format: checked here WITHOUT our proto file, by raw
 * gRPC paths and a hand decoder keyed on the field numbers of go-spiffe's workload.proto
 * (X509SVIDResponse: 1 svids, 2 crl, 3 federated_bundles; X509SVID: 1 spiffe_id, 2 x509_svid,
 * 3 x509_svid_key, 4 bundle, 5 hint; X509BundlesResponse: 1 crl, 2 bundles; JWTBundlesResponse: 1 bundles).
 */
import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { DevIssuer } from '../../gateway/identity/dev-issuer.js';
import { extractModbusRole } from '../../gateway/identity/modbus-role.js';

type Fields = Map<number, Buffer[]>;

/** Minimal protobuf reader: length-delimited (wire type 2) and varint (0) fields only. */
function decode(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated varint');
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const len = varint();
      const list = out.get(field) ?? [];
      list.push(buf.subarray(i, i + len));
      out.set(field, list);
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}
const one = (f: Fields, n: number): Buffer => f.get(n)?.[0] ?? Buffer.alloc(0);
const mapOf = (entries: Buffer[] = []): Record<string, Buffer> =>
  Object.fromEntries(entries.map((e) => decode(e)).map((kv) => [one(kv, 1).toString(), one(kv, 2)]));

const ca = await DevCa.create({ trustDomain: 'plant.example' });
const fed = await DevCa.create({ trustDomain: 'other.org' });
const dir = await mkdtemp(join(tmpdir(), 'vg-wire-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const socketPath = join(dir, 'agent.sock');
const peers: string[] = [];
const issuer = await DevIssuer.start({
  socketPath,
  ca,
  spiffeId: (peer) => {
    peers.push(peer.address);
    return 'spiffe://plant.example/gw';
  },
  role: 'operator',
  federatedBundles: { 'spiffe://other.org': fed.bundleDer() },
});
t.teardown(() => issuer.close());
const raw = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
t.teardown(() => raw.close());
const id = (b: Buffer): Buffer => b;

function firstMessage(path: string): Promise<Buffer> {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return new Promise((resolve, reject) => {
    const call = raw.makeServerStreamRequest(path, id, id, Buffer.alloc(0), md);
    call.on('data', (b: Buffer) => {
      call.cancel();
      resolve(b);
    });
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
}

t.test('FetchX509SVID at /SpiffeWorkloadAPI/FetchX509SVID with SPIRE field numbers', async (t) => {
  const resp = decode(await firstMessage('/SpiffeWorkloadAPI/FetchX509SVID'));
  t.equal(resp.get(1)?.length, 1, 'one SVID');
  const svid = decode(one(resp, 1));
  t.equal(one(svid, 1).toString(), 'spiffe://plant.example/gw', '1: spiffe_id');
  const leaf = new X509Certificate(one(svid, 2));
  t.match(leaf.subjectAltName, 'URI:spiffe://plant.example/gw', '2: x509_svid is DER with the leaf first');
  t.ok(
    leaf.checkPrivateKey(createPrivateKey({ key: one(svid, 3), format: 'der', type: 'pkcs8' })),
    '3: unencrypted PKCS#8 key of the leaf',
  );
  t.ok(one(svid, 4).equals(ca.bundleDer()), '4: bundle is the CA DER');
  t.ok(leaf.verify(new X509Certificate(one(svid, 4)).publicKey));
  t.same(Object.keys(mapOf(resp.get(3))), ['spiffe://other.org'], '3: federated_bundles keyed by trust-domain ID');
  t.ok(mapOf(resp.get(3))['spiffe://other.org']?.equals(fed.bundleDer()));
  t.notOk(resp.has(2), 'no CRLs');
  t.equal(extractModbusRole(one(svid, 2)), 'operator', 'the configured Modbus role is in the leaf');
  t.equal(peers.length, 1, 'the resolver was asked once, with the caller');
  t.type(peers[0], 'string');
});

t.test('FetchX509Bundles and FetchJWTBundles', async (t) => {
  const b = decode(await firstMessage('/SpiffeWorkloadAPI/FetchX509Bundles'));
  const bundles = mapOf(b.get(2));
  t.same(Object.keys(bundles).sort(), ['spiffe://other.org', 'spiffe://plant.example']);
  t.ok(bundles['spiffe://plant.example']?.equals(ca.bundleDer()));
  const j = mapOf(decode(await firstMessage('/SpiffeWorkloadAPI/FetchJWTBundles')).get(1));
  const jwks = JSON.parse(j['spiffe://plant.example']?.toString() ?? '{}') as { keys: Record<string, string>[] };
  t.equal(jwks.keys.length, 1);
  t.match(jwks.keys[0], { kty: 'EC', crv: 'P-256', use: 'jwt-svid', kid: /^[\w-]{43}$/ });
  t.notOk('d' in (jwks.keys[0] ?? {}), 'public key only');
});

/** Leaves a stale socket file behind, as a crashed agent would: a child listens, then is SIGKILLed. */
async function staleSocket(path: string): Promise<void> {
  const code = `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

t.test('a second issuer refuses a live socket; a stale socket file is replaced', async (t) => {
  await t.rejects(DevIssuer.start({ socketPath, ca, spiffeId: 'spiffe://plant.example/x' }), {
    code: 'GW_ERR_LISTEN',
    message: /another server/,
  });
  const file = join(dir, 'plain-file');
  await writeFile(file, 'x');
  await t.rejects(DevIssuer.start({ socketPath: file, ca, spiffeId: 'spiffe://plant.example/x' }), {
    code: 'GW_ERR_LISTEN',
    message: /not a socket/,
  });

  const p = join(dir, 'crashed.sock');
  await staleSocket(p);
  t.ok((await stat(p)).isSocket(), 'stale socket left behind');
  const b = await DevIssuer.start({ socketPath: p, ca, spiffeId: 'spiffe://plant.example/x' });
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  const c = new grpc.Client(`unix:${p}`, grpc.credentials.createInsecure());
  t.teardown(() => c.close());
  const got = await new Promise<Buffer>((resolve, reject) => {
    const call = c.makeServerStreamRequest('/SpiffeWorkloadAPI/FetchX509SVID', id, id, Buffer.alloc(0), md);
    call.on('data', (m: Buffer) => (call.cancel(), resolve(m)));
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
  t.equal(one(decode(one(decode(got), 1)), 1).toString(), 'spiffe://plant.example/x', 'serves on the reclaimed path');
  await b.close();
  await t.rejects(stat(p), 'socket file removed on close');
});
