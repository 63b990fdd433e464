/**
 * V8's sampling heap profiler through the inspector, in the process it runs in (the gateway bench child:
 * `npm run bench:profile -- --alloc`). Objects already collected by a minor or a major GC are kept in the
 * profile (`includeObjectsCollectedBy…GC`), so short-lived garbage — what a request path allocates and drops —
 * is counted, not only what survives. Sizes in the profile are V8's estimate of all bytes allocated (each
 * sample stands for about `samplingInterval` bytes).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

/** V8's default: one sample per 32 KiB allocated on average. */
export const SAMPLING_INTERVAL = 32 * 1024;

let session = null;

/** @param {string} method @param {object} [params] */
function post(method, params) {
  return new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
}

export async function startHeapSampling() {
  if (session !== null) throw new Error('heap sampling already running');
  session = new Session();
  session.connect();
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_INTERVAL,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

/** Stops sampling and writes the profile (Chrome DevTools' `.heapprofile` JSON) to `file`. */
export async function stopHeapSampling(file) {
  if (session === null) throw new Error('heap sampling not running');
  const { profile } = await post('HeapProfiler.stopSampling');
  await post('HeapProfiler.disable');
  session.disconnect();
  session = null;
  writeFileSync(file, JSON.stringify(profile));
}
