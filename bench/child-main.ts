/**
 * Child side of the bench child protocol: start something, print one JSON line `{"ready":true,...}` on
 * stdout, then answer JSON command lines on stdin (`{"cmd":"rss"}`, `{"cmd":"stop"}`, or any command the
 * child adds). Ends by itself when stdin closes (the bench died) or after a hard deadline.
 */
import { createInterface } from 'node:readline';

export interface ChildHandle {
  readonly info: Record<string, unknown>;
  readonly commands?: Record<string, () => Record<string, unknown> | Promise<Record<string, unknown>>>;
  stop(): Promise<void>;
}

const HARD_DEADLINE_MS = 10 * 60_000;

function reply(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Memory as the child sees it; `gc` runs first when node was started with --expose-gc. */
function memory(): Record<string, unknown> {
  (globalThis as { gc?: () => void }).gc?.();
  return { rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 };
}

export async function serveChild(start: () => Promise<ChildHandle>): Promise<void> {
  let handle: ChildHandle;
  try {
    handle = await start();
  } catch (err) {
    reply({ ready: false, error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await handle.stop().catch(() => undefined);
    process.exit(0);
  };
  setTimeout(() => void stop(), HARD_DEADLINE_MS).unref();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    void (async () => {
      const cmd = (JSON.parse(line) as { cmd: string }).cmd;
      if (cmd === 'stop') return stop();
      if (cmd === 'rss') return reply(memory());
      const fn = handle.commands?.[cmd];
      reply(fn ? await fn() : { error: `unknown command ${cmd}` });
    })();
  });
  lines.on('close', () => void stop());
  reply({ ready: true, ...handle.info });
}
