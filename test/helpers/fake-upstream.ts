/**
 * An upstream transport for pool tests (gateway/upstream/device-pool.ts): each open() makes a link of `slots`
 * requests that answers only when the test says so. `reportsBatching` false: the links have no `batching`
 * field (an RTU line); otherwise a link reports a pending write from its first send until `endTurn`.
 */
import type { LinkSettings, UpstreamLink, UpstreamTransport } from '../../gateway/upstream/types.js';

export interface FakeLink {
  readonly settings: LinkSettings<unknown>;
  readonly jobs: unknown[];
  /** Set by send, cleared by `endTurn` (the connection's one write per turn went out). */
  batching: boolean;
  link?: UpstreamLink<unknown>;
}

export function fakeTransport(slots: number, reportsBatching = true) {
  const links: FakeLink[] = [];
  /** Every request sent, in order, and the link id (1-based) it went on. */
  const sent: unknown[] = [];
  const sentOn: number[] = [];
  const open = <J>(settings: LinkSettings<J>): Promise<UpstreamLink<J>> => {
    const l: FakeLink = { settings, jobs: [], batching: false };
    links.push(l);
    const id = links.length;
    const link: UpstreamLink<J> = {
      id,
      get freeSlots() {
        return slots - l.jobs.length;
      },
      get live() {
        return l.jobs.length;
      },
      late: 0,
      send(job) {
        l.jobs.push(job);
        l.batching = true;
        sent.push(job);
        sentOn.push(id);
        return sentOn.length;
      },
      expire: () => true,
      close() {},
      whenClosed: () => Promise.resolve(),
    };
    if (reportsBatching)
      Object.defineProperty(link, 'batching', { get: () => l.batching, enumerable: true, configurable: true });
    l.link = link;
    return Promise.resolve(link);
  };
  const transport: UpstreamTransport = { target: 'fake', open };
  return {
    transport,
    links,
    sent,
    sentOn,
    endTurn(): void {
      for (const l of links) l.batching = false;
    },
    /** Answers every request in flight on `only` (default all links), freeing the slots as a connection does. */
    answerAll(only: readonly FakeLink[] = links): void {
      for (const l of only)
        for (const j of l.jobs.splice(0)) {
          l.settings.events.reply(j, { kind: 'response', pdu: Buffer.from([3, 2, 0, 1]), latencyMs: 0 });
          l.settings.events.slotFreed(l.link!);
        }
    },
  };
}
