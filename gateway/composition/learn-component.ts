/**
 * Commissioning (learn) mode, when any device in gateway.yaml has a `learn:` block: started after the audit
 * log (its `learn.started` events need it) and stopped before it (an open window ends with `learn.ended`
 * reason `stopped`). See gateway/evidence/learn-mode.ts.
 */
import type { AuditSink } from '../audit/audit-events.js';
import { LearnMode } from '../evidence/learn-mode.js';
import type { Component } from './lifecycle.js';
import type { GatewayEnv } from './gateway-env.js';

export function learnComponent(env: GatewayEnv, audit: AuditSink): Component<LearnMode | null> {
  return {
    name: 'learn-mode',
    start: () => {
      if (!env.config.devices.some((d) => d.learn)) return null;
      const learn = new LearnMode({
        devices: env.config.devices,
        audit,
        timers: env.timers,
        now: env.now,
        registry: env.metrics.registry,
        logger: env.logger,
      });
      learn.start();
      return learn;
    },
    stop: (learn) => learn?.stop(),
  };
}
