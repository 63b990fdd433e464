/**
 * A real gateway for tests: dev identity (the embedded Workload API), a simulated PLC, a policy written by the
 * test, all on 127.0.0.1 with ephemeral ports in a temp dir; plus client credentials minted by the same dev CA
 * and a minimal Modbus/TCP Security client built on our codec (third-party clients live in test/interop).
 * With `profinet`, also a simulated PROFINET IO device (remote-io scenario, UDP on 127.0.0.1) and its
 * `profinetDevices:` entry.
 */
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { startGateway, type RunningGateway } from '../../gateway/main.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';
import {
  startProfinetSimulator,
  type ProfinetSimulator,
  type ProfinetSimulatorOptions,
} from '../../simulators/profinet/profinet-simulator.js';
import { MbapFramer, encodeAdu } from '../../protocols/modbus/index.js';
import type { Timers } from '../../gateway/timers.js';

export const TD = 'plant.example';

/** A policy that lets the historians read turbine-1's holding registers 0–999 (no trust score): counting tests. */
export const HISTORIAN_HOLDING_READS = `version: 1
trustDomain: plant.example
rules:
  - id: historian-reads
    principals: [spiffe://plant.example/historian/*]
    devices: [turbine-1]
    allow: [{ access: read, tables: [holding], addresses: 0-999 }]
trust: { threshold: 0 }
`;

export interface HarnessOptions {
  readonly policy: string;
  /** Extra YAML appended to the gateway.yaml. */
  readonly extraYaml?: string;
  /** Replaces the default `audit:` block (one YAML line). */
  readonly auditYaml?: string;
  readonly deviceTimeout?: string;
  /** Extra inline YAML for the one device, e.g. `queueLimit: 2, maxInFlight: 1`. */
  readonly deviceYaml?: string;
  /** More `devices:` entries, one YAML flow mapping per line (e.g. serial meters on a PTY). */
  readonly extraDevices?: readonly string[];
  readonly scanDelayMs?: number;
  readonly svidTtl?: string;
  readonly logLevel?: string;
  /** Injectable clock for the gateway's runtime (grants, trust, audit times). Default Date.now. */
  readonly now?: () => number;
  /** The gateway's timers (SVID source, trust housekeeping, session expiry, handshake deadlines): e.g. FakeTimers. */
  readonly timers?: Timers;
  /** Receives the gateway's pino log lines (JSON strings). */
  readonly logSink?: (line: string) => void;
  /** Extra inline YAML for the listeners, e.g. `{ mbaps: 'handshakeTimeout: 400ms', shared: 'maxPendingHandshakes: 64' }`. */
  readonly listeners?: { readonly mbaps?: string; readonly grpc?: string; readonly shared?: string };
  /** Replaces the default `identity:` block (the embedded dev issuer), e.g. a Workload API socket the test runs. */
  readonly identityYaml?: string;
  /** The CA that mints client SVIDs (default: the dev CA in the harness dir), e.g. the one behind that socket. */
  readonly ca?: DevCa;
  /** Also start a PROFINET IO device simulator and list it under `profinetDevices:`. */
  readonly profinet?: HarnessProfinetOptions;
}

export interface HarnessProfinetOptions {
  /** Device name in gateway.yaml and policy. Default `rio-1`. */
  readonly name?: string;
  /** Scenario path. Default simulators/scenarios/remote-io.yaml. */
  readonly scenario?: string;
  /** `timeout:` of the entry (per transmission). Default 300ms. */
  readonly timeout?: string;
  /** Extra inline YAML for the entry, e.g. `queueLimit: 2, arIdleTimeout: 2s`. */
  readonly yaml?: string;
  /** Simulator options (faults at start, answer delay, exitOnUserIndexRead + exit recorder, clock…). */
  readonly sim?: Omit<ProfinetSimulatorOptions, 'scenario' | 'host' | 'port'>;
}

export interface ClientCreds {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly files: { cert: string; key: string; bundle: string };
}

export interface Harness {
  readonly dir: string;
  readonly gateway: RunningGateway;
  readonly sim: Simulator;
  /** The PROFINET IO device simulator, when `profinet` was given. */
  readonly pnSim: ProfinetSimulator | undefined;
  readonly ca: DevCa;
  readonly port: number;
  readonly policyFile: string;
  mint(spiffeId: string, opts?: { role?: string; ttlSeconds?: number }): Promise<ClientCreds>;
  stop(): Promise<void>;
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-gw-'));
  const sim = await startSimulator({
    scenario: 'simulators/scenarios/turbine.yaml',
    scanDelayMs: opts.scanDelayMs ?? 0,
    tickMs: 0,
  });
  const pn = opts.profinet;
  const pnSim = pn
    ? await startProfinetSimulator({
        scenario: pn.scenario ?? 'simulators/scenarios/remote-io.yaml',
        host: '127.0.0.1',
        port: 0,
        ...pn.sim,
      }).catch(async (err) => {
        await sim.close();
        throw err;
      })
    : undefined;
  const closeSims = async (): Promise<void> => {
    await sim.close();
    await pnSim?.close();
  };
  const ca = opts.ca ?? (await DevCa.loadOrCreate(join(dir, 'dev-ca'), TD));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, opts.policy);
  const l = opts.listeners ?? {};
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `version: 1
${
  opts.identityYaml ??
  `identity:
  source: dev
  dev: { trustDomain: ${TD}, caDir: dev-ca${opts.svidTtl ? `, svidTtl: ${opts.svidTtl}` : ''} }`
}
listeners:
  mbaps: { host: 127.0.0.1, port: 0${l.mbaps ? `, ${l.mbaps}` : ''} }
  grpc: { host: 127.0.0.1, port: 0${l.grpc ? `, ${l.grpc}` : ''} }
  metrics: { host: 127.0.0.1, port: 0 }
${l.shared ? `  ${l.shared.split('\n').join('\n  ')}\n` : ''}devices:
  - { name: turbine-1, address: "127.0.0.1:${sim.port}", unitId: 1, targetUnitId: 255, timeout: ${opts.deviceTimeout ?? '500ms'}${opts.deviceYaml ? `, ${opts.deviceYaml}` : ''} }
${(opts.extraDevices ?? []).map((d) => `  - ${d}\n`).join('')}${
      pnSim
        ? `profinetDevices:
  - { name: ${pn?.name ?? 'rio-1'}, host: 127.0.0.1, port: ${pnSim.port}, timeout: ${pn?.timeout ?? '300ms'}${pn?.yaml ? `, ${pn.yaml}` : ''} }
`
        : ''
    }policy: { file: policy.yaml, watch: false }
${opts.auditYaml ?? 'audit: { dir: audit, fsync: never, values: include }'}
${opts.extraYaml ?? ''}`,
  );
  let gateway: RunningGateway;
  try {
    const logger = opts.logSink
      ? pino({ level: opts.logLevel ?? 'info' }, { write: (line: string) => opts.logSink?.(line) })
      : pino({ level: opts.logLevel ?? 'silent' });
    gateway = await startGateway(loadGatewayConfig(join(dir, 'gateway.yaml')), {
      logger,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.timers ? { timers: opts.timers } : {}),
    });
  } catch (err) {
    await closeSims();
    throw err;
  }
  let n = 0;
  return {
    dir,
    gateway,
    sim,
    pnSim,
    ca,
    policyFile,
    port: gateway.endpoints.mbaps.port,
    mint: async (spiffeId, o = {}) => {
      const m = await ca.mintX509Svid({
        spiffeId,
        ...(o.role ? { role: o.role } : {}),
        ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}),
      });
      const cert = m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join('');
      const key = derToPem(m.keyDer, 'PRIVATE KEY');
      const out = join(dir, 'clients', String(n++));
      mkdirSync(out, { recursive: true });
      const files = { cert: join(out, 'svid.pem'), key: join(out, 'key.pem'), bundle: join(out, 'bundle.pem') };
      writeFileSync(files.cert, cert);
      writeFileSync(files.key, key);
      writeFileSync(files.bundle, ca.bundlePem());
      return { cert, key, ca: ca.bundlePem(), files };
    },
    stop: async () => {
      await gateway.stop();
      await closeSims();
    },
  };
}

/** A clock tests can move forward: real time plus an offset. */
export class TestClock {
  offset = 0;
  readonly now = (): number => Date.now() + this.offset;
  advance(ms: number): void {
    this.offset += ms;
  }
}

/** A minimal mbaps client: one TLS connection, requests matched to responses by transaction id. */
export class TestMbapsClient {
  private tid = 0;
  private readonly framer = new MbapFramer();
  private readonly waiting = new Map<number, (pdu: Buffer) => void>();
  readonly closed: Promise<void>;
  /** The last TLS session the server offered for resumption ('session' event), if any. */
  session: Buffer | undefined;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (let r = this.framer.next(); r.kind === 'frame'; r = this.framer.next()) {
        const w = this.waiting.get(r.frame.header.transactionId);
        this.waiting.delete(r.frame.header.transactionId);
        w?.(Buffer.from(r.frame.pdu));
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** `localAddress` binds the client to another loopback address (all of 127.0.0.0/8 is local on Linux). */
  static connect(
    port: number,
    creds: { cert: string; key: string; ca: string },
    opts: { localAddress?: string; session?: Buffer; maxVersion?: tls.SecureVersion } = {},
  ): Promise<TestMbapsClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        cert: creds.cert,
        key: creds.key,
        ca: creds.ca,
        minVersion: 'TLSv1.2',
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        ...(opts.session ? { session: opts.session } : {}),
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        checkServerIdentity: () => undefined, // SPIFFE: no hostname check
      });
      let session: Buffer | undefined;
      socket.on('session', (s: Buffer) => (session = s)); // TLS 1.2: may come before 'secureConnect'
      socket.once('secureConnect', () => {
        const c = new TestMbapsClient(socket);
        c.session = session;
        socket.on('session', (s: Buffer) => (c.session = s));
        resolve(c);
      });
      socket.once('error', reject);
    });
  }

  /** Sends one PDU; resolves with the response PDU, or null if the connection closed first. */
  request(unit: number, pdu: Buffer, timeoutMs = 3000): Promise<Buffer | null> {
    const tid = (this.tid = (this.tid + 1) & 0xffff);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.waiting.set(tid, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve(null);
      });
      this.socket.write(encodeAdu(tid, unit, pdu));
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }
}
