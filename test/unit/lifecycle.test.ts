import t from 'tap';
import { Lifecycle, plain, type Component } from '../../gateway/composition/lifecycle.js';

/** A component that logs its start and stop into `log`, optionally failing one of them. */
function part(log: string[], name: string, fail?: 'start' | 'stop'): Component<string> {
  return {
    name,
    start: async () => {
      if (fail === 'start') return Promise.reject(new Error(`${name} cannot start`));
      log.push(`start ${name}`);
      return Promise.resolve(`${name}-value`);
    },
    stop: (value) => {
      log.push(`stop ${name} (${value})`);
      if (fail === 'stop') throw new Error(`${name} cannot stop`);
    },
  };
}

t.test('components stop in the reverse order of their start, each given what its start returned', async (t) => {
  const log: string[] = [];
  const life = new Lifecycle();
  t.equal(await life.start(part(log, 'a')), 'a-value');
  await life.start(part(log, 'b'));
  await life.start(plain('c', () => 3));
  await life.start(part(log, 'd'));
  await life.stop();
  t.same(log, ['start a', 'start b', 'start d', 'stop d (d-value)', 'stop b (b-value)', 'stop a (a-value)']);
});

t.test('a failure while starting stops what had started, in reverse, and rethrows the start error', async (t) => {
  const log: string[] = [];
  const life = new Lifecycle();
  await t.rejects(
    life.run(async () => {
      await life.start(part(log, 'a'));
      await life.start(part(log, 'b'));
      await life.start(part(log, 'c', 'start'));
      await life.start(part(log, 'never'));
    }),
    { message: 'c cannot start' },
  );
  t.same(log, ['start a', 'start b', 'stop b (b-value)', 'stop a (a-value)']);
});

t.test('a start failure is rethrown even when a stop fails during the clean-up', async (t) => {
  const log: string[] = [];
  const failures: string[] = [];
  const life = new Lifecycle((name) => failures.push(name));
  await t.rejects(
    life.run(async () => {
      await life.start(part(log, 'a'));
      await life.start(part(log, 'b', 'stop'));
      await life.start(part(log, 'c', 'start'));
    }),
    { message: 'c cannot start' },
  );
  t.same(log, ['start a', 'start b', 'stop b (b-value)', 'stop a (a-value)']);
  t.same(failures, ['b']);
});

t.test('one failing stop does not keep the others from stopping; the first failure is rethrown', async (t) => {
  const log: string[] = [];
  const failures: string[] = [];
  const life = new Lifecycle((name, err) => failures.push(`${name}: ${(err as Error).message}`));
  await life.start(part(log, 'a', 'stop'));
  await life.start(part(log, 'b'));
  await life.start(part(log, 'c', 'stop'));
  await t.rejects(life.stop(), { message: 'c cannot stop' });
  t.same(log, ['start a', 'start b', 'start c', 'stop c (c-value)', 'stop b (b-value)', 'stop a (a-value)']);
  t.same(failures, ['c: c cannot stop', 'a: a cannot stop']);
});

t.test('stop is idempotent, and nothing starts once stopping', async (t) => {
  const log: string[] = [];
  const life = new Lifecycle();
  await life.start(part(log, 'a'));
  await life.start(part(log, 'b'));
  await Promise.all([life.stop(), life.stop()]);
  await life.stop();
  t.same(log, ['start a', 'start b', 'stop b (b-value)', 'stop a (a-value)'], 'each component stopped exactly once');
  await t.rejects(life.start(part(log, 'late')), /cannot start late while stopping/);
  t.equal(log.length, 4, 'the late component never started');
});

t.test('run returns what the composition returns', async (t) => {
  const life = new Lifecycle();
  t.equal(await life.run(async () => (await life.start(plain('x', () => 41))) + 1), 42);
});
