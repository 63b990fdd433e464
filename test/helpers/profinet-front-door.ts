/**
 * The REAL gRPC front door (TLS, SPIFFE verification, session admission, grpc-js) with a FAKE record
 * pipeline behind its `Profinet` service: tests script each outcome and see exactly which requests reached
 * the pipeline. The identity, trust runtime, session registry and audit come from a real gateway
 * (gateway-harness.ts); the second front door listens on its own ephemeral port beside the gateway's.
 */
import { rmSync } from 'node:fs';
import pino from 'pino';
import { VerigateClient } from '../../gateway/cli/admin-client.js';
import type { ProfinetTarget } from '../../gateway/frontdoor/device-router.js';
import { GrpcFrontDoor } from '../../gateway/frontdoor/grpc-front-door.js';
import { HandshakeSlots } from '../../gateway/frontdoor/handshake-slots.js';
import type { RecordPipelineRequest, RecordPipelineResult } from '../../gateway/frontdoor/record-pipeline.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import type { RecordRequest } from '../../protocols/profinet/index.js';
import { startHarness, type Harness } from './gateway-harness.js';

export const TD = 'plant.example';
export const CALLER = `spiffe://${TD}/eng/alice`;
export const GATEWAY_ID = `spiffe://${TD}/verigate`;
export const PN_DEVICE = 'rio-1';

/** A fake RecordPipeline: answers from `script` (default `ok`), remembers every request and every refusal. */
export class FakeRecordPipeline {
  readonly seen: RecordPipelineRequest[] = [];
  /** Requests the front door refused before the pipeline (audited by the real one). */
  readonly refusals: { session: Session; device: string; request: RecordRequest; reason: string }[] = [];
  script: (req: RecordPipelineRequest) => RecordPipelineResult | Promise<RecordPipelineResult> = () => ({
    outcome: 'ok',
    reason: 'allowed',
    ruleId: 'r1',
  });

  /** What `refused()` resolves with: false as when the refusal's event did not reach the file (fail-closed). */
  refusalCommitted = true;

  refused(session: Session, device: string, request: RecordRequest, reason: string): Promise<boolean> {
    this.refusals.push({ session, device, request, reason });
    return Promise.resolve(this.refusalCommitted);
  }

  handle(req: RecordPipelineRequest): Promise<RecordPipelineResult> {
    this.seen.push(req);
    return Promise.resolve().then(() => this.script(req));
  }
}

export interface PnFrontDoor {
  readonly harness: Harness;
  readonly server: string;
  readonly pipeline: FakeRecordPipeline;
  readonly target: ProfinetTarget;
  /** A Profinet client with an SVID for `spiffeId` (default CALLER) minted by the gateway's CA. */
  client(spiffeId?: string): Promise<VerigateClient>;
  stop(): Promise<void>;
}

const POLICY = `version: 1
trustDomain: ${TD}
rules:
  - id: eng-reads
    principals: [spiffe://${TD}/eng/*]
    devices: [turbine-1]
    allow:
      - { access: read, table: holding, addresses: 0-9 }
`;

export async function startPnFrontDoor(): Promise<PnFrontDoor> {
  const harness = await startHarness({ policy: POLICY, auditYaml: 'audit: { dir: audit, fsync: never }' });
  const gw = harness.gateway;
  const pipeline = new FakeRecordPipeline();
  // The service only passes the target on to the pipeline; its fields are the pipeline's business.
  const target = { config: { name: PN_DEVICE }, client: {} } as unknown as ProfinetTarget;
  const door = new GrpcFrontDoor({
    identity: gw.identity,
    router: { named: () => undefined, profinet: (name) => (name === PN_DEVICE ? target : undefined) },
    pipeline: { handle: () => Promise.reject(new Error('no Modbus in this test')) },
    recordPipeline: pipeline,
    trust: gw.trust,
    sessions: gw.sessions,
    chains: gw.chains,
    policy: gw.policy,
    audit: gw.auditThrottle,
    metrics: gw.metrics,
    now: Date.now,
    logger: pino({ level: 'silent' }),
    handshake: {
      slots: new HandshakeSlots({ maxPending: 16, maxPendingPerSource: 8 }),
      timeoutMs: 5000,
      identityAvailable: () => true,
    },
  });
  const port = await door.listen('127.0.0.1', 0);
  const server = `127.0.0.1:${port}`;
  const clients: VerigateClient[] = [];
  return {
    harness,
    server,
    pipeline,
    target,
    client: async (spiffeId = CALLER) => {
      const m = await harness.mint(spiffeId);
      const c = new VerigateClient('Profinet', server, { certPem: m.cert, keyPem: m.key, bundlePem: m.ca });
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      await door.close();
      await harness.stop();
      rmSync(harness.dir, { recursive: true, force: true });
    },
  };
}
