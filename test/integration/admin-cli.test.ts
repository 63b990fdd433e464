/**
 * `verigate jit|sessions|lock|reload` against an in-process gateway: the real CLI as a child process
 * (`node --import tsx gateway/cli/verigate.ts …`) for the JIT flow, target resolution (--server, $VERIGATE_GRPC,
 * --lab/--as, --gateway-id, $VERIGATE_GATEWAY_ID) and exit codes; the same command modules in-process (memoryIo)
 * for the remaining subcommands; and the pinned gateway ID: a server with another SVID of the same trust domain
 * is refused.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { jitCommand, lockCommand, reloadCommand, sessionsCommand } from '../../gateway/cli/admin-commands.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { ENG, HMI, LEAD, startHarness, value } from '../helpers/grpc-harness.js';

const h = await startHarness();
t.teardown(() => h.stop());
const files = {
  eng: await h.pemFiles(ENG, 'eng'),
  lead: await h.pemFiles(LEAD, 'lead'),
  hmi: await h.pemFiles(HMI, 'hmi'),
};
const GATEWAY = 'spiffe://plant.example/verigate'; // the harness gateway's own SVID
const [host, port] = h.server.split(':');
writeFileSync(
  join(h.dir, 'lab.json'),
  JSON.stringify({
    gatewayId: GATEWAY,
    endpoints: { grpc: { host, port: Number(port) } },
    clients: { 'shift-lead': { spiffeId: LEAD, ...files.lead }, engineer: { spiffeId: ENG, ...files.eng } },
  }),
);
const as = (who: keyof typeof files): string[] => [
  '--cert',
  files[who].cert,
  '--key',
  files[who].key,
  '--bundle',
  files[who].bundle,
];

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'gateway/cli/verigate.ts', ...args],
      {
        timeout: 30_000,
        env: { ...process.env, VERIGATE_GRPC: '', VERIGATE_GATEWAY_ID: '', ...env },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

t.test('child process: jit request (--server) → approve (--lab --as) → the engineer may write', async (t) => {
  const req = await cli([
    'jit',
    'request',
    '--server',
    h.server,
    '--gateway-id',
    GATEWAY,
    ...as('eng'),
    '--device',
    'turbine-1',
    '--table',
    'holding',
    '--start',
    '0',
    '--end',
    '9',
    '--access',
    'write',
    '--duration',
    '5m',
    '--reason',
    'replace sensor',
    '--json',
  ]);
  t.equal(req.code, 0, req.stderr);
  const grant = JSON.parse(req.stdout) as { id: string; status: string; requester: string };
  t.equal(grant.status, 'pending');
  t.equal(grant.requester, ENG);

  const self = await cli(['jit', 'approve', grant.id, '--lab', h.dir, '--as', 'engineer']);
  t.equal(self.code, 1, 'self-approval fails with exit 1');
  t.match(self.stderr, /PERMISSION_DENIED/);

  const ok = await cli(['jit', 'approve', grant.id, '--lab', h.dir, '--as', 'shift-lead']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`approved ${grant.id} active`));

  const eng = await h.client('Modbus', ENG);
  t.ok(
    (await eng.call('WriteRegisters', { device: 'turbine-1', address: 3, values: [9] })).ok,
    'write allowed under the approved grant',
  );
});

t.test('child process: $VERIGATE_GRPC, sessions list --json; a non-admin gets exit 1; bad usage exit 2', async (t) => {
  const list = await cli(['sessions', 'list', ...as('lead'), '--json'], {
    VERIGATE_GRPC: h.server,
    VERIGATE_GATEWAY_ID: GATEWAY,
  });
  t.equal(list.code, 0, list.stderr);
  const sessions = (JSON.parse(list.stdout) as { sessions: { spiffeId: string; transport: string }[] }).sessions;
  t.ok(
    sessions.some((s) => s.spiffeId === ENG && s.transport === 'grpc'),
    'the engineer session is listed',
  );
  const denied = await cli(['lock', 'list', '--server', h.server, '--gateway-id', GATEWAY, ...as('hmi')]);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /PERMISSION_DENIED/);
  const usage = await cli([
    'lock',
    'create',
    '--server',
    h.server,
    '--gateway-id',
    GATEWAY,
    ...as('lead'),
    '--kind',
    'planet',
    '--value',
    'x',
    '--reason',
    'r',
  ]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--kind must be/);
});

t.test('in-process: jit list/revoke, lock create/list/remove, sessions kill, reload; usage errors', async (t) => {
  const run = async (cmd: typeof jitCommand, args: string[], who: keyof typeof files = 'lead') => {
    const io = memoryIo({}, process.cwd());
    const code = await cmd([...args, '--server', h.server, '--gateway-id', GATEWAY, ...as(who)], io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };
  const list = await run(jitCommand, ['list']);
  t.equal(list.code, 0, list.err);
  const id = /^(\S+) active /m.exec(list.out)?.[1];
  t.ok(id, 'the active grant is listed');
  const revoked = await run(jitCommand, ['revoke', id ?? '', '--reason', 'done']);
  t.equal(revoked.code, 0, revoked.err);
  t.match(revoked.out, /revoked .* revoked /);

  const created = await run(lockCommand, [
    'create',
    '--kind',
    'device',
    '--value',
    'turbine-1',
    '--reason',
    'maintenance',
    '--ttl',
    '10m',
  ]);
  t.equal(created.code, 0, created.err);
  const lockId = /^locked (\S+) device=turbine-1/.exec(created.out)?.[1] ?? '';
  t.ok(lockId);
  t.match((await run(lockCommand, ['list'])).out, new RegExp(`${lockId} device=turbine-1 by ${LEAD}`));
  t.equal((await run(lockCommand, ['remove', lockId])).code, 0);
  t.equal((await run(lockCommand, ['remove', lockId])).code, 1, 'removing twice: NOT_FOUND → exit 1');

  const killed = await run(sessionsCommand, ['kill', '--id', ENG]);
  t.equal(killed.code, 0, killed.err);
  t.match(killed.out, /ended [1-9]\d* session/);
  t.equal((await run(sessionsCommand, ['kill'])).code, 2, 'kill needs --session or --id');
  t.equal((await run(sessionsCommand, ['kill', '--session', 'a', '--id', ENG])).code, 2, 'not both');

  const reload = await run(reloadCommand, []);
  t.equal(reload.code, 0, reload.err);
  t.match(reload.out, /policy unchanged: version [0-9a-f]{64}/);
  writeFileSync(h.policyFile, 'version: 1\nrules: [oops\n');
  const bad = await run(reloadCommand, []);
  t.equal(bad.code, 1, 'a refused reload exits 1');
  t.match(bad.out, /reload failed, version [0-9a-f]{64} stays in force/);

  t.equal((await run(jitCommand, ['request', '--device', 'turbine-1'], 'eng')).code, 2, 'missing options');
  t.equal(
    (
      await run(
        jitCommand,
        [
          'request',
          '--device',
          'turbine-1',
          '--table',
          'holding',
          '--start',
          '-1',
          '--end',
          '2',
          '--access',
          'write',
          '--duration',
          '5m',
          '--reason',
          'r',
        ],
        'eng',
      )
    ).code,
    2,
    'bad number',
  );
  // PROFINET record indices: --table records --addresses LO-HI reach the grant service as RECORDS start..end
  // (this policy's JIT rule has no profinet entry, so the scope is refused by name: exit 1, nothing created)
  const records = await run(
    jitCommand,
    [
      'request',
      '--device',
      'turbine-1',
      '--table',
      'records',
      '--addresses',
      '0x0100-0x0101',
      '--access',
      'write',
      '--duration',
      '5m',
      '--reason',
      'r',
    ],
    'eng',
  );
  t.equal(records.code, 1, records.out);
  t.match(records.err + records.out, /scope records 256-257 \(write\) is not inside what rule/);
  t.equal(
    (
      await run(
        jitCommand,
        [
          'request',
          '--device',
          'turbine-1',
          '--table',
          'records',
          '--addresses',
          '0x0100',
          '--start',
          '1',
          '--end',
          '2',
          '--access',
          'write',
          '--duration',
          '5m',
          '--reason',
          'r',
        ],
        'eng',
      )
    ).code,
    2,
    '--addresses and --start together',
  );
  t.equal(
    (
      await run(
        jitCommand,
        [
          'request',
          '--device',
          'turbine-1',
          '--table',
          'records',
          '--addresses',
          'abc-1',
          '--access',
          'write',
          '--duration',
          '5m',
          '--reason',
          'r',
        ],
        'eng',
      )
    ).code,
    2,
    'bad --addresses',
  );
  t.equal(
    (
      await run(
        jitCommand,
        [
          'request',
          '--device',
          'turbine-1',
          '--table',
          'registers',
          '--start',
          '1',
          '--end',
          '2',
          '--access',
          'write',
          '--duration',
          '5m',
          '--reason',
          'r',
        ],
        'eng',
      )
    ).code,
    2,
    'unknown table',
  );
  const noTarget = memoryIo({}, process.cwd());
  t.equal(await reloadCommand([], noTarget), 2, 'no server, no SVID');
  t.match(noTarget.stderr.join('\n'), /no gateway address/);
  const g = value(await (await h.client('Admin', LEAD)).call<{ grants: unknown[] }>('ListGrants', {}));
  t.equal(g.grants.length, 1, 'nothing else was created by the failed invocations');
});

t.test(
  'the gateway ID is pinned: no pin → exit 2; another SVID of the trust domain → refused, naming both IDs',
  async (t) => {
    const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const io = memoryIo(env, process.cwd());
      const code = await sessionsCommand(['list', ...args, ...as('lead')], io);
      return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
    };
    const unpinned = await run(['--server', h.server]);
    t.equal(unpinned.code, 2, 'no --gateway-id, no $VERIGATE_GATEWAY_ID, no lab: usage error');
    t.match(unpinned.err, /no gateway SPIFFE ID to pin: give --gateway-id/);
    t.equal(
      (await run(['--server', h.server, '--gateway-id', 'spiffe://other.example/verigate'])).code,
      2,
      'a pin outside the caller trust domain',
    );
    t.equal((await run(['--server', h.server, '--gateway-id', 'not-an-id'])).code, 2, 'a malformed pin');
    t.equal((await run(['--server', h.server], { VERIGATE_GATEWAY_ID: GATEWAY })).code, 0, '$VERIGATE_GATEWAY_ID');

    const wrongPin = await run(['--server', h.server, '--gateway-id', 'spiffe://plant.example/verigate-2']);
    t.equal(wrongPin.code, 1, 'the real gateway is not the pinned one: refused');
    t.match(
      wrongPin.err,
      /unexpected ID spiffe:\/\/plant\.example\/verigate, want spiffe:\/\/plant\.example\/verigate-2/,
    );

    // An impostor: any workload of the trust domain holds a valid SVID. It answers TLS (ALPN h2) with its own.
    const svid = await h.pemFiles('spiffe://plant.example/hmi/line9', 'impostor');
    let handshakes = 0;
    let bytes = 0;
    const impostor = tls.createServer(
      {
        cert: readFileSync(svid.cert),
        key: readFileSync(svid.key),
        ca: readFileSync(svid.bundle),
        requestCert: true,
        ALPNProtocols: ['h2'],
      },
      (sock) => {
        handshakes++;
        sock.on('data', (d: Buffer) => (bytes += d.length));
        sock.on('error', () => undefined);
      },
    );
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    t.teardown(() => impostor.close());
    const addr = `127.0.0.1:${(impostor.address() as { port: number }).port}`;
    const fooled = await run(['--server', addr, '--gateway-id', GATEWAY, '--timeout', '5s']);
    t.equal(fooled.code, 1, 'refused');
    t.match(
      fooled.err,
      /unexpected ID spiffe:\/\/plant\.example\/hmi\/line9, want spiffe:\/\/plant\.example\/verigate/,
      'names both IDs',
    );
    t.equal(bytes, 0, 'the impostor never received the request');
    t.comment(`impostor handshakes: ${handshakes}`);
    const right = await run(['--server', h.server, '--gateway-id', GATEWAY]);
    t.equal(right.code, 0, right.err);
  },
);
