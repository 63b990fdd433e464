/**
 * `verigate profinet identity|read|write` against the real gRPC front door with a fake record pipeline
 * (test/helpers/profinet-front-door.ts): the real CLI as a child process for dispatch, --lab/--as and
 * --json; the command module in-process (memoryIo) for output, failures, the pinned gateway ID and usage
 * errors (exit 2, nothing sent). The end-to-end runs against the simulator and the lab live in
 * test/integration/grpc-profinet.test.ts.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { profinetCommand } from '../../gateway/cli/profinet-command.js';
import { encodeIm0, encodeRealIdentification, RecordIndex, type Im0 } from '../../protocols/profinet/index.js';
import { CALLER, GATEWAY_ID, PN_DEVICE, startPnFrontDoor } from '../helpers/profinet-front-door.js';

const pn = await startPnFrontDoor();
t.teardown(() => pn.stop());
const files = (await pn.harness.mint(CALLER)).files;
const [host, port] = pn.server.split(':');
writeFileSync(
  join(pn.harness.dir, 'lab.json'),
  JSON.stringify({
    gatewayId: GATEWAY_ID,
    endpoints: { grpc: { host, port: Number(port) } },
    clients: { engineer: { spiffeId: CALLER, ...files } },
  }),
);
const creds = ['--cert', files.cert, '--key', files.key, '--bundle', files.bundle];
const target = ['--server', pn.server, '--gateway-id', GATEWAY_ID, ...creds];

const IM0: Im0 = {
  vendorId: 0x002a,
  orderId: 'RIO-16DI-ST',
  serialNumber: 'SN-0042',
  hardwareRevision: 2,
  softwareRevisionPrefix: 'V',
  softwareRevision: [2, 1, 0],
  revisionCounter: 1,
  profileId: 0,
  profileSpecificType: 4,
  imVersion: [1, 1],
  imSupported: 0x0006,
};
const REAL = encodeRealIdentification([
  { api: 0, slot: 0, moduleIdentNumber: 0x100, submodules: [{ subslot: 1, submoduleIdentNumber: 1 }] },
  { api: 0, slot: 1, moduleIdentNumber: 0x2001, submodules: [{ subslot: 1, submoduleIdentNumber: 0x11 }] },
]);

t.beforeEach(() => {
  pn.pipeline.seen.length = 0;
  pn.pipeline.script = (req) => ({
    outcome: 'ok',
    reason: 'allowed',
    ruleId: 'inventory',
    ...(req.request.access === 'read'
      ? {
          data:
            req.request.index === RecordIndex.IM0
              ? encodeIm0(IM0)
              : req.request.index === RecordIndex.RealIdentificationData
                ? REAL
                : Buffer.from('beef', 'hex'),
        }
      : {}),
  });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'gateway/cli/verigate.ts', ...args],
      {
        timeout: 30_000,
        env: { ...process.env, VERIGATE_GRPC: '', VERIGATE_GATEWAY_ID: '' },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({}, process.cwd());
  const code = await profinetCommand(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

t.test('child process: profinet identity --lab --as prints I&M0 decoded and the module list', async (t) => {
  const r = await cli(['profinet', 'identity', '--device', PN_DEVICE, '--lab', pn.harness.dir, '--as', 'engineer']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^rio-1\nI&M0\n/);
  t.match(r.stdout, /vendor id +0x002a/);
  t.match(r.stdout, /order id +RIO-16DI-ST/);
  t.match(r.stdout, /serial number +SN-0042/);
  t.match(r.stdout, /software revision V2\.1\.0/);
  t.match(r.stdout, /I&M supported +I&M1, I&M2 \(0x0006\)/);
  t.match(r.stdout, /api 0 slot 1 module 0x00002001\n {4}subslot 0x0001 submodule 0x00000011/);
  t.same(
    pn.pipeline.seen.map((s) => s.request.index),
    [0xaff0, 0xf000],
  );
});

t.test('child process: --json output; a refusal exits 1 with the status; bad usage exits 2', async (t) => {
  const r = await cli(['profinet', 'identity', '--device', PN_DEVICE, ...target, '--json']);
  t.equal(r.code, 0, r.stderr);
  const id = JSON.parse(r.stdout) as {
    device: string;
    im0: { orderId: string; vendorId: number; imVersion: string };
    modules: unknown[];
  };
  t.equal(id.device, PN_DEVICE);
  t.match(id.im0, { orderId: 'RIO-16DI-ST', vendorId: 42, imVersion: '1.1' });
  t.equal(id.modules.length, 2);

  pn.pipeline.script = () => ({ outcome: 'denied', reason: 'no-rule', ruleId: null });
  const denied = await cli([
    'profinet',
    'read',
    '--device',
    PN_DEVICE,
    '--slot',
    '1',
    '--subslot',
    '1',
    '--index',
    '0x0100',
    ...target,
  ]);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /PERMISSION_DENIED: denied: no-rule/);

  const usage = await cli(['profinet', 'read', '--device', PN_DEVICE, '--slot', '1', '--index', '1', ...target]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--subslot is required/);
});

t.test(
  'read: a record the codec knows is printed decoded (and as hex); other records as hex; --json carries both',
  async (t) => {
    const im0 = await run([
      'read',
      '--device',
      PN_DEVICE,
      '--slot',
      '0',
      '--subslot',
      '1',
      '--index',
      '0xaff0',
      ...target,
    ]);
    t.equal(im0.code, 0, im0.err);
    t.match(im0.out, /rio-1 api 0 slot 0 subslot 0x0001 index 0xaff0: 60 bytes/);
    t.match(im0.out, /order id +RIO-16DI-ST/);
    t.same(pn.pipeline.seen[0]?.request, { access: 'read', api: 0, slot: 0, subslot: 1, index: 0xaff0, length: 4096 });

    const opaque = await run([
      'read',
      '--device',
      PN_DEVICE,
      '--api',
      '0x10',
      '--slot',
      '1',
      '--subslot',
      '1',
      '--index',
      '256',
      '--length',
      '2',
      ...target,
    ]);
    t.equal(opaque.code, 0, opaque.err);
    t.equal(opaque.out, 'rio-1 api 16 slot 1 subslot 0x0001 index 0x0100: 2 bytes\n  beef');
    t.match(pn.pipeline.seen[1]?.request, { api: 16, index: 256, length: 2 });

    const json = await run([
      'read',
      '--device',
      PN_DEVICE,
      '--slot',
      '0',
      '--subslot',
      '1',
      '--index',
      '0xf000',
      '--json',
      ...target,
    ]);
    t.equal(json.code, 0, json.err);
    const out = JSON.parse(json.out) as {
      index: number;
      length: number;
      data: string;
      decoded: { kind: string; value: { modules: unknown[] } };
    };
    t.equal(out.index, 0xf000);
    t.equal(out.data, REAL.toString('hex'));
    t.equal(out.length, REAL.length);
    t.equal(out.decoded.kind, 'real-identification');
    t.equal(out.decoded.value.modules.length, 2);

    pn.pipeline.script = () => ({ outcome: 'ok', reason: 'allowed', ruleId: 'r', data: Buffer.from('0020', 'hex') });
    const bad = await run([
      'read',
      '--device',
      PN_DEVICE,
      '--slot',
      '0',
      '--subslot',
      '1',
      '--index',
      '0xaff0',
      ...target,
    ]);
    t.equal(bad.code, 0, 'the call succeeded; the bytes are shown as they came');
    t.match(bad.out, /0020\n {2}\(not a valid record for this index: /);
  },
);

t.test(
  'write: --data hex (colons/spaces ignored) reaches the pipeline; --json; a device error exits 1 naming the PNIOStatus',
  async (t) => {
    const w = await run([
      'write',
      '--device',
      PN_DEVICE,
      '--slot',
      '1',
      '--subslot',
      '1',
      '--index',
      '0x0100',
      '--data',
      '00:32',
      ...target,
    ]);
    t.equal(w.code, 0, w.err);
    t.equal(w.out, 'wrote 2 bytes to rio-1 api 0 slot 1 subslot 0x0001 index 0x0100');
    t.same([...(pn.pipeline.seen[0]?.request.data ?? [])], [0x00, 0x32]);

    const j = await run([
      'write',
      '--device',
      PN_DEVICE,
      '--slot',
      '1',
      '--subslot',
      '1',
      '--index',
      '256',
      '--data',
      '0x01 02',
      '--json',
      ...target,
    ]);
    t.same(JSON.parse(j.out), { device: PN_DEVICE, api: 0, slot: 1, subslot: 1, index: 256, length: 2 });

    pn.pipeline.script = () => ({
      outcome: 'pnio-error',
      reason: 'device error',
      ruleId: 'eng-write',
      pnioStatus: 'df80b100',
      pnioMeaning: 'write-length',
    });
    const e = await run([
      'write',
      '--device',
      PN_DEVICE,
      '--slot',
      '1',
      '--subslot',
      '1',
      '--index',
      '256',
      '--data',
      '01',
      '--json',
      ...target,
    ]);
    t.equal(e.code, 1);
    t.match(e.err, /FAILED_PRECONDITION: the device answered PNIOStatus df80b100 \(write-length\)/);
    const body = JSON.parse(e.out) as { ok: boolean; code: string; metadata: Record<string, string> };
    t.same(body.ok, false);
    t.equal(body.metadata['verigate-pnio-status'], 'df80b100');
    t.equal(body.metadata['verigate-pnio-meaning'], 'write-length');

    pn.pipeline.script = () => ({ outcome: 'write-lost', reason: 'no answer after the write', ruleId: 'eng-write' });
    const lost = await run([
      'write',
      '--device',
      PN_DEVICE,
      '--slot',
      '1',
      '--subslot',
      '1',
      '--index',
      '256',
      '--data',
      '01',
      ...target,
    ]);
    t.equal(lost.code, 1);
    t.match(lost.err, /UNKNOWN: .*may have been executed/);
  },
);

t.test('the gateway ID is pinned like the admin verbs: none → exit 2, another one → refused, exit 1', async (t) => {
  const none = await run(['identity', '--device', PN_DEVICE, '--server', pn.server, ...creds]);
  t.equal(none.code, 2);
  t.match(none.err, /no gateway SPIFFE ID to pin/);
  const other = await run([
    'identity',
    '--device',
    PN_DEVICE,
    '--server',
    pn.server,
    '--gateway-id',
    'spiffe://plant.example/not-the-gateway',
    ...creds,
  ]);
  t.equal(other.code, 1);
  t.match(other.err, /gateway SVID refused/);
  t.equal(pn.pipeline.seen.length, 0, 'nothing reached the pipeline');
});

t.test('usage errors exit 2 and send nothing', async (t) => {
  const cases: [string[], RegExp][] = [
    [['identity', ...target], /--device is required/],
    [['read', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', ...target], /--index is required/],
    [
      ['read', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', '--index', 'zz', ...target],
      /--index must be an integer 0\.\.65535/,
    ],
    [
      ['read', '--device', PN_DEVICE, '--slot', '70000', '--subslot', '1', '--index', '1', ...target],
      /--slot must be an integer 0\.\.65535/,
    ],
    [
      ['read', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', '--index', '1', '--length', '0', ...target],
      /--length must be 1\.\.65535/,
    ],
    [
      ['write', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', '--index', '1', ...target],
      /--data is required/,
    ],
    [
      ['write', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', '--index', '1', '--data', 'abc', ...target],
      /--data must be hex bytes/,
    ],
    [
      ['write', '--device', PN_DEVICE, '--slot', '1', '--subslot', '1', '--index', '1', '--data', '', ...target],
      /--data is required/,
    ],
    [['erase', '--device', PN_DEVICE, ...target], /unknown subcommand "erase"/],
    [['read', '--bogus', ...target], /Unknown option '--bogus'/],
    [['identity', 'extra', '--device', PN_DEVICE, ...target], /takes no positional arguments/],
  ];
  for (const [args, msg] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, args.slice(0, 3).join(' '));
    t.match(r.err, msg);
    t.match(r.err, /usage: verigate profinet identity/);
  }
  t.equal(pn.pipeline.seen.length, 0);
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /--gateway-id ID/);
});
