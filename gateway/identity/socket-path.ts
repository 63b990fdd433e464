/**
 * Unix socket file housekeeping for servers we run (the dev Workload API issuer): create the parent
 * directory, refuse a socket someone is still listening on, and clear a stale one left by a crash.
 */
import { mkdir, lstat, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { GatewayError } from '../errors.js';

/** Unix socket paths are limited to 107 bytes on Linux (sun_path[108]). */
const MAX_SUN_PATH = 107;

export async function prepareSocketPath(path: string): Promise<void> {
  if (!path.startsWith('/'))
    throw new GatewayError('GW_ERR_LISTEN', `identity: socket path must be absolute, got ${path}`);
  if (Buffer.byteLength(path) > MAX_SUN_PATH) {
    throw new GatewayError('GW_ERR_LISTEN', `identity: socket path longer than ${MAX_SUN_PATH} bytes: ${path}`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const st = await lstat(path).catch(() => null);
  if (st === null) return;
  if (!st.isSocket()) throw new GatewayError('GW_ERR_LISTEN', `identity: ${path} exists and is not a socket`);
  if (await isListening(path))
    throw new GatewayError('GW_ERR_LISTEN', `identity: another server is listening on ${path}`);
  await rm(path, { force: true });
}

export async function removeSocket(path: string): Promise<void> {
  await rm(path, { force: true });
}

function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
