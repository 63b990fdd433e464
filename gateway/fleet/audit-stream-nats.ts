/**
 * The block publisher's view of its own edge audit stream (`AUDIT-<gateway>`) at the local leaf, over the
 * gateway's fleet link (fleet-link.ts): JetStream publish with ack and `Nats-Msg-Id`, and the last message of a
 * subject. Every publish names the stream that must store it (`Nats-Expected-Stream`): were the gateway's
 * subjects ever claimed by another stream (a sibling's made with them, a legacy shared one), the leaf refuses
 * the block rather than filling someone else's room. The last message is read with a direct get whose API
 * subject names the gateway's own stream and subject
 * (`$JS.API.DIRECT.GET.AUDIT-<gateway>.audit.<site>.<gateway>.events`), so leaf permissions can let a gateway
 * read back only its own blocks; a stream without `allow_direct` is asked with STREAM.MSG.GET instead.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { errorMessage } from '../errors.js';
import type { AuditStreamPort } from './audit-stream-port.js';

/** nats-server's answers when a `discard: new` stream (or the account/server store) has no room. */
const FULL = /maximum (bytes|messages|messages per subject) exceeded|insufficient (storage )?resources/i;

/** JSStreamStoreFailedF (10077) carries the store's reason; 10047 is "insufficient resources". */
export function isStreamFullError(err: unknown): boolean {
  return FULL.test(errorMessage(err));
}

/** nats.js refuses a message over the server's max_payload before sending it (body + headers). */
const TOO_LARGE = /max_payload size exceeded|maximum payload exceeded/i;

export function isPayloadTooLargeError(err: unknown): boolean {
  return TOO_LARGE.test(errorMessage(err));
}

export interface NatsAuditStreamOptions {
  /** The gateway's own edge stream (fleet-topology.ts edgeAuditStream). */
  readonly stream: string;
  /** Publish and API request timeout (default 5 s); an unanswered publish is retried as the same block. */
  readonly timeoutMs?: number;
}

export function natsAuditStream(current: () => NatsConnection | null, opts: NatsAuditStreamOptions): AuditStreamPort {
  const stream = opts.stream;
  const timeout = opts.timeoutMs ?? 5000;
  const clients = new WeakMap<NatsConnection, { js: JetStreamClient; jsm: Promise<JetStreamManager> }>();
  const client = (): { js: JetStreamClient; jsm: Promise<JetStreamManager> } => {
    const nc = current();
    if (nc === null || nc.isClosed()) throw new Error('fleet audit: no connection to the leaf');
    let c = clients.get(nc);
    if (c === undefined) {
      c = { js: jetstream(nc, { timeout }), jsm: jetstreamManager(nc, { timeout, checkAPI: false }) };
      clients.set(nc, c);
    }
    return c;
  };
  return {
    publish: async (subject, body, msgId) => {
      await client().js.publish(subject, body, { msgID: msgId, timeout, expect: { streamName: stream } });
    },
    lastMessage: async (subject) => {
      const jsm = await client().jsm;
      try {
        const m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
        return m === null ? null : m.data;
      } catch (direct) {
        try {
          const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
          return m === null ? null : m.data;
        } catch {
          throw direct;
        }
      }
    },
    isStreamFull: isStreamFullError,
    // the INFO of the leaf we are connected to (a reconnect may bring another limit)
    maxPayload: () => {
      const nc = current();
      return nc === null || nc.isClosed() ? null : (nc.info?.max_payload ?? null);
    },
    isTooLarge: isPayloadTooLargeError,
  };
}
