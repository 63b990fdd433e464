/**
 * Which open connection the pool (device-pool.ts) puts the next request on. Separate from the pool's queue and
 * outcomes because it is a pure choice over the links' reported room, with its own reasoning:
 *
 * One that already has a write pending for this event-loop turn while it has room (a connection writes one
 * turn's requests in one write(2), plc-connection.ts), else the one with the most free slots. So a turn's burst
 * leaves in one write and comes back together, instead of one write per connection and answers spread over
 * several turns; across turns the roomiest still wins, so light load keeps using every open connection (a device
 * that serves each connection serially keeps its parallelism, which packing every request on the fullest
 * connection would take away). A link that reports no `batching` (an RTU line) always gets the roomiest.
 */
import type { UpstreamLink } from './types.js';

/** The link for the next request, given `last` (where the previous one went); undefined when none has room. */
export function pickLink<J>(
  last: UpstreamLink<J> | undefined,
  links: readonly UpstreamLink<J>[],
): UpstreamLink<J> | undefined {
  if (last !== undefined && last.batching === true && last.freeSlots > 0) return last;
  let best: UpstreamLink<J> | undefined;
  for (const c of links) if (c.freeSlots > 0 && (best === undefined || c.freeSlots > best.freeSlots)) best = c;
  return best;
}
