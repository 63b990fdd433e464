/**
 * A stock gRPC client, grpcurl (built from the Go module proxy by scripts/build-grpcurl.sh; missing → this
 * test FAILS with how to build it), against the real gRPC front door's `verigate.v1.Profinet` service with a
 * fake record pipeline behind it: Go's TLS stack presents a client SVID (-cert/-key), verifies the gateway
 * against the trust bundle (-cacert) by the DNS SAN `localhost` its dev SVID carries (-servername), reads
 * the service from gateway.proto (no reflection), and sees our status codes and trailing metadata.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { encodeIm0, encodeRealIdentification, RecordIndex } from '../../protocols/profinet/index.js';
import { PN_DEVICE, CALLER, startPnFrontDoor } from '../helpers/profinet-front-door.js';
import { REPO_ROOT, requireTool } from '../helpers/tools.js';

const grpcurl = requireTool('grpcurl');
const pn = await startPnFrontDoor();
t.teardown(() => pn.stop());
const creds = (await pn.harness.mint(CALLER)).files;

/** grpcurl's exit code for an RPC error is 64 + the gRPC status code (grpcurl.go `statusCodeOffset`). */
const exitFor = (code: number): number => 64 + code;

function call(
  method: string,
  body: object,
  extra: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    '-cacert',
    creds.bundle,
    '-cert',
    creds.cert,
    '-key',
    creds.key,
    '-servername',
    'localhost',
    '-import-path',
    join(REPO_ROOT, 'gateway/frontdoor/proto'),
    '-proto',
    'verigate/v1/gateway.proto',
    '-max-time',
    '20',
    ...extra,
    '-d',
    JSON.stringify(body),
    pn.server,
    `verigate.v1.Profinet/${method}`,
  ];
  return new Promise((resolve) => {
    execFile(grpcurl, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.beforeEach(() => {
  pn.pipeline.seen.length = 0;
});

t.test('ReadIdentity: decoded I&M0 and module list as protobuf JSON', async (t) => {
  pn.pipeline.script = (req) => ({
    outcome: 'ok',
    reason: 'allowed',
    ruleId: 'inventory',
    data:
      req.request.index === RecordIndex.IM0
        ? encodeIm0({
            vendorId: 42,
            orderId: 'RIO-16DI',
            serialNumber: 'SN-0001',
            hardwareRevision: 2,
            softwareRevisionPrefix: 'V',
            softwareRevision: [1, 2, 3],
            revisionCounter: 0,
            profileId: 0,
            profileSpecificType: 4,
            imVersion: [1, 1],
            imSupported: 2,
          })
        : encodeRealIdentification([
            { api: 0, slot: 1, moduleIdentNumber: 0x2001, submodules: [{ subslot: 1, submoduleIdentNumber: 17 }] },
          ]),
  });
  const r = await call('ReadIdentity', { device: PN_DEVICE });
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    im0: Record<string, unknown>;
    modules: { slot?: number; moduleIdentNumber: number; submodules: unknown[] }[];
  };
  t.match(out.im0, {
    vendorId: 42,
    orderId: 'RIO-16DI',
    serialNumber: 'SN-0001',
    softwareRevision: 'V1.2.3',
    imVersion: '1.1',
  });
  t.same(out.modules, [{ slot: 1, moduleIdentNumber: 0x2001, submodules: [{ subslot: 1, submoduleIdentNumber: 17 }] }]);
  t.equal(pn.pipeline.seen[0]?.session.peer.id, CALLER, "grpcurl's client certificate is the verified session");
});

t.test('ReadRecord and WriteRecord: bytes as base64 both ways', async (t) => {
  pn.pipeline.script = () => ({ outcome: 'ok', reason: 'allowed', ruleId: 'r', data: Buffer.from('0102ff', 'hex') });
  const read = await call('ReadRecord', { device: PN_DEVICE, slot: 1, subslot: 1, index: 0x800a, max_length: 64 });
  t.equal(read.code, 0, read.stderr);
  t.equal((JSON.parse(read.stdout) as { data: string }).data, Buffer.from('0102ff', 'hex').toString('base64'));
  const write = await call('WriteRecord', {
    device: PN_DEVICE,
    slot: 1,
    subslot: 1,
    index: 0x100,
    data: Buffer.from([0, 50]).toString('base64'),
  });
  t.equal(write.code, 0, write.stderr);
  t.same(JSON.parse(write.stdout), { length: 2 });
  t.same(
    pn.pipeline.seen.map((s) => s.request.length),
    [64, 2],
  );
  t.same([...(pn.pipeline.seen[1]?.request.data ?? [])], [0, 50]);
});

t.test('a device error: FAILED_PRECONDITION with the PNIOStatus trailers grpcurl -v prints', async (t) => {
  pn.pipeline.script = () => ({
    outcome: 'pnio-error',
    reason: 'device error',
    ruleId: 'r',
    pnioStatus: 'de80b00a',
    pnioMeaning: 'invalid-index',
  });
  const r = await call('ReadRecord', { device: PN_DEVICE, slot: 1, subslot: 1, index: 0x800a, max_length: 64 }, ['-v']);
  t.equal(r.code, exitFor(9), 'FAILED_PRECONDITION (9)');
  t.match(r.stderr, /Code: FailedPrecondition/);
  t.match(r.stdout, /verigate-pnio-status: de80b00a/);
  t.match(r.stdout, /verigate-pnio-meaning: invalid-index/);
  t.match(r.stdout, /verigate-outcome: pnio-error/);
});

t.test(
  'denied → PERMISSION_DENIED with the rule id; bad argument → INVALID_ARGUMENT and nothing reaches the pipeline',
  async (t) => {
    pn.pipeline.script = () => ({ outcome: 'denied', reason: 'no-rule', ruleId: 'eng-reads' });
    const denied = await call('WriteRecord', { device: PN_DEVICE, slot: 1, subslot: 1, index: 0x100, data: 'AAA=' }, [
      '-v',
    ]);
    t.equal(denied.code, exitFor(7), 'PERMISSION_DENIED (7)');
    t.match(denied.stdout, /verigate-rule-id: eng-reads/);
    pn.pipeline.seen.length = 0;
    const bad = await call('ReadRecord', { device: PN_DEVICE, slot: 70000, subslot: 1, index: 1, max_length: 4 });
    t.equal(bad.code, exitFor(3), 'INVALID_ARGUMENT (3)');
    t.match(bad.stderr, /slot 70000 is outside/);
    t.equal(pn.pipeline.seen.length, 0);
  },
);
