/**
 * Child side of the bench child protocol (plain JavaScript, so children that run without tsx — the gateway
 * from dist/, the empty node child — use it too; types in child-main.d.mts): start something, print one JSON line `{"ready":true,...}` on
 * stdout, then answer JSON command lines on stdin (`{"cmd":"rss"}`, `{"cmd":"stop"}`, or any command the
 * child adds). Ends by itself when stdin closes (the bench died) or after a hard deadline.
 */
import { createInterface } from 'node:readline';

/**
 * The last resort against an orphan whose bench is wedged but alive (a dead bench closes stdin). Generous: a full
 * bench whose windows are measured again under the hypervisor's steal ran 11 minutes, and a 10-minute deadline
 * stopped the shared simulator under rows 7 and 8. `VERIGATE_BENCH_CHILD_DEADLINE_MS` overrides it (tests).
 */
const HARD_DEADLINE_MS = deadlineMs(process.env.VERIGATE_BENCH_CHILD_DEADLINE_MS);

/** @param {string | undefined} v an integer of ms within setTimeout's range, else the default hour */
function deadlineMs(v) {
  const ms = Number(v);
  return Number.isInteger(ms) && ms > 0 && ms <= 0x7fffffff ? ms : 60 * 60_000;
}

/** @param {Record<string, unknown>} o */
function reply(o) {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Memory as the child sees it; `gc` runs first when node was started with --expose-gc. */
function memory() {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 };
}

/** @param {() => Promise<import('./child-main.d.mts').ChildHandle>} start */
export async function serveChild(start) {
  let handle;
  try {
    handle = await start();
  } catch (err) {
    reply({ ready: false, error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await handle.stop().catch(() => undefined);
    process.exit(0);
  };
  setTimeout(() => void stop(), HARD_DEADLINE_MS).unref();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    void (async () => {
      const cmd = JSON.parse(line).cmd;
      if (cmd === 'stop') return stop();
      if (cmd === 'rss') return reply(memory());
      const fn = handle.commands?.[cmd];
      reply(fn ? await fn() : { error: `unknown command ${cmd}` });
    })();
  });
  lines.on('close', () => void stop());
  reply({ ready: true, ...handle.info });
}
