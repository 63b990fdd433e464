/**
 * The bench's run-queue wait meter (bench/sched-meter.ts): each process's time waiting for a CPU, from the
 * schedstat of every thread, per request over a window; and the row that prints it with the CPU per request.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startWaitWindow, waitNs } from '../../bench/sched-meter.js';
import { pacedCpuRow } from '../../bench/paced-cpu-row.js';
import type { DataPathOptions, PathResult } from '../../bench/data-path.js';

/** A fake /proc: `threads` of process `pid`, each "run-ns wait-ns slices". */
function fakeProc(t: Test, pid: number, threads: Record<string, string>): string {
  const proc = mkdtempSync(join(tmpdir(), 'sched-meter-'));
  t.teardown(() => rmSync(proc, { recursive: true, force: true }));
  write(proc, pid, threads);
  return proc;
}
function write(proc: string, pid: number, threads: Record<string, string>): void {
  for (const [tid, line] of Object.entries(threads)) {
    mkdirSync(join(proc, String(pid), 'task', tid), { recursive: true });
    writeFileSync(join(proc, String(pid), 'task', tid, 'schedstat'), `${line}\n`);
  }
}

t.test("a process's wait is its threads' runqueue time summed", async (t) => {
  const proc = fakeProc(t, 42, { '42': '900 1000 7', '43': '50 250 2' });
  t.equal(waitNs(42, proc), 1250);
  t.equal(waitNs(7, proc), undefined, 'a process that is not there');
  write(proc, 42, { '44': 'garbage' });
  t.equal(waitNs(42, proc), undefined, 'an unreadable line: no reading rather than a wrong one');
  const real = waitNs(process.pid);
  t.ok(real !== undefined && real >= 0, 'this machine has schedstat');
});

t.test('a window divides each process’s wait by the requests served in it', async (t) => {
  const proc = fakeProc(t, 42, { '42': '0 1000 1' });
  write(proc, process.pid, { [String(process.pid)]: '0 0 1' });
  const end = startWaitWindow({ server: 42, sim: 9 }, proc);
  write(proc, 42, { '42': '0 301000 9' });
  write(proc, process.pid, { [String(process.pid)]: '0 50000 3' });
  t.same(end(100), { server: 3, client: 0.5 }, '300 µs and 50 µs over 100 requests; no simulator reading');
  t.same(startWaitWindow({}, proc)(0), { client: NaN }, 'no requests: no figure');
});

t.test('the paced row prints CPU and wait per request, or nothing without them', async (t) => {
  const o = { rate: 1000 } as DataPathOptions;
  const run = { completed: 1, failed: 0, seconds: 1, perSecond: 1, p50Us: 1, p99Us: 1 };
  const r = {
    paced: { ...run, cpu: { server: 237.4, sim: 90, client: 180 }, wait: { server: 115, sim: 38.2, client: 60 } },
  } as unknown as PathResult;
  const row = pacedCpuRow('4', 'verigate', r, o)!;
  t.match(row.what, /@ 1000 req\/s \(server \/ simulator \/ load generator\)$/);
  t.equal(row.value, '237.4 / 90.0 / 180.0 µs; 115.0 / 38.2 / 60.0 µs');
  t.equal(pacedCpuRow('4', 'verigate', { paced: run } as unknown as PathResult, o), null);
});
