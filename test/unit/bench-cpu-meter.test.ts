import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { cpuNs, formatSplit, startCpuWindow, totalUs } from '../../bench/cpu-meter.js';

/** Burns CPU in this thread until `ns` of it has been spent, by the meter's own reading. */
function burn(ns: number): void {
  const start = cpuNs(process.pid)!;
  let x = 0;
  while (cpuNs(process.pid)! - start < ns) for (let i = 0; i < 100_000; i++) x += Math.sqrt(i);
  if (x < 0) throw new Error('unreachable');
}

t.test('reads the CPU time of a process from /proc', async (t) => {
  const a = cpuNs(process.pid);
  t.type(a, 'number');
  burn(50e6);
  t.ok(cpuNs(process.pid)! - a! >= 50e6, 'grows by what this thread spent');
  t.equal(cpuNs(2 ** 22 + 1), undefined, 'a process that does not exist has no reading');
});

t.test('a window divides each process’s CPU by the requests served in it', async (t) => {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setTimeout(() => {}, 30_000)'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  await once(child.stdout, 'data'); // started: its start-up CPU is before the window
  const end = startCpuWindow({ server: process.pid, sim: child.pid! });
  burn(50e6);
  const s = end(1000);
  t.ok(s.server! >= 50, `server ≥ 50 µs per request (${s.server})`);
  t.ok(s.client >= 50, 'the load generator is this process too');
  t.ok(s.sim! >= 0 && s.sim! < s.server!, 'an idle child costs (almost) nothing');
  t.equal(totalUs(s), s.server! + s.sim! + s.client);
  t.equal(formatSplit({ sim: 1.25, client: 2 }), '– / 1.3 / 2.0 µs', 'a path without a server shows a dash');
  t.same(startCpuWindow({})(0), { client: NaN }, 'no requests: no figure');
});
