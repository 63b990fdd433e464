/**
 * The bench's child processes (bench/bench-child.ts, bench/child-main.mjs): a child reports whether it still runs,
 * so a row measured against a simulator that had exited fails as such instead of blaming the gateway; and a
 * child's hard deadline is what the child protocol says (overridable, far longer than a full bench by default).
 * A full run once lost its shared simulator to a 10-minute deadline before rows 7 and 8.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild } from '../../bench/bench-child.js';
import { eventually } from '../helpers/eventually.js';

const nullChild = fileURLToPath(new URL('../../bench/null-child.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bench-child-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a child past its hard deadline exits, and running() says so', async (t) => {
  const usual = await spawnBenchChild(nullChild, [], join(dir, 'usual.log'));
  // the deadline counts from the child's start: long enough to see it ready on a busy machine
  const short = await spawnBenchChild(nullChild, [], join(dir, 'short.log'), [], {
    VERIGATE_BENCH_CHILD_DEADLINE_MS: '3000',
  });
  t.equal(short.running(), true, 'running once ready');
  await eventually('the short-deadline child to exit', () => !short.running(), { timeoutMs: 10_000 });
  t.equal(usual.running(), true, 'the default deadline has not passed');
  t.same(await usual.command('rss').then((r) => typeof r['rss']), 'number', 'and it still answers');
  await usual.stop();
  t.equal(usual.running(), false, 'stopped');
});

t.test('the default deadline is an hour, far beyond a full bench; a bad override keeps it', async (t) => {
  const src = readFileSync(new URL('../../bench/child-main.mjs', import.meta.url), 'utf8');
  t.match(src, /: 60 \* 60_000;/);
  const bad = await spawnBenchChild(nullChild, [], join(dir, 'bad.log'), [], {
    VERIGATE_BENCH_CHILD_DEADLINE_MS: '-5',
  });
  const huge = await spawnBenchChild(nullChild, [], join(dir, 'huge.log'), [], {
    VERIGATE_BENCH_CHILD_DEADLINE_MS: String(2 ** 40),
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // a deadline taken as is would have fired by now
  t.equal(bad.running(), true, 'a negative value is not a deadline');
  t.equal(huge.running(), true, 'a value past setTimeout range is not taken as 1 ms');
  await bad.stop();
  await huge.stop();
});
