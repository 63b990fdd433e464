/**
 * Loading the trust runtime's two stores at start. An unreadable grant store honours no grant until repaired;
 * an unreadable lock store fails closed (every session and request refused) unless `lockStoreFailure` is
 * `best-effort`, which keeps the file aside for the investigation and starts a fresh store.
 */
import type { Logger } from '../logger.js';
import type { GrantService } from './grant-service.js';
import type { LockService } from './lock-service.js';

export function loadTrustStores(
  grants: Pick<GrantService, 'load'>,
  locks: Pick<LockService, 'load' | 'setAside'>,
  lockStoreFailure: 'fail-closed' | 'best-effort' | undefined,
  logger: Logger | undefined,
): void {
  const grantErr = grants.load();
  if (grantErr)
    logger?.error({ err: grantErr }, 'JIT grant store unreadable: no grant is honoured until it is repaired');
  const lockErr = locks.load();
  if (lockErr && lockStoreFailure === 'best-effort') {
    const aside = locks.setAside();
    logger?.error({ err: lockErr, keptAs: aside }, 'lock store unreadable: running WITHOUT locks (best-effort mode)');
  } else if (lockErr) {
    logger?.error({ err: lockErr }, 'lock store unreadable: failing closed, every session and request is refused');
  }
}
