/**
 * The audit trail's components: the SIEM exporter, the hash-chained log, and the rate-bounded sink in front
 * of it [IEC 62443-3-3 SR 2.9, SR 7.1].
 */
import { readFileSync } from 'node:fs';
import { AuditLog } from '../audit/audit-log.js';
import type { AuditThrottle } from '../audit/audit-throttle.js';
import { svidCheckpointSigner } from '../audit/checkpoint-signer.js';
import { startRateBoundedAudit } from '../audit/rate-bounded-audit.js';
import { SyslogExporter } from '../audit/syslog-exporter.js';
import type { SessionRegistry } from '../frontdoor/session-registry.js';
import type { GatewayIdentity } from '../gateway-identity.js';
import { svidPem } from '../identity/x509-svid.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import type { Component } from './lifecycle.js';
import type { GatewayEnv } from './gateway-env.js';

/**
 * Mutual TLS to the SIEM with the gateway's own (rotating) SVID; the receiver is trusted by its CA file, or by
 * our SPIFFE bundle when it holds an SVID too. Started BEFORE the audit log so that it stops after it: the
 * final checkpoint the log writes on close is exported too. Null when no `audit.syslog` is configured.
 */
export function syslogExporterComponent(env: GatewayEnv, identity: GatewayIdentity): Component<SyslogExporter | null> {
  const syslog = env.config.audit.syslog;
  return {
    name: 'syslog-exporter',
    start: () => {
      if (!syslog) return null;
      return new SyslogExporter({
        host: syslog.host,
        port: syslog.port,
        format: syslog.format,
        spool: { dir: syslog.spoolDir, maxBytes: syslog.spoolMaxBytes },
        tls: () => {
          const pem = svidPem(identity.source.getX509Svid());
          const ca = syslog.caFile
            ? readFileSync(syslog.caFile, 'utf8')
            : identity.source.getBundleSet().allAuthoritiesPem().join('');
          return { cert: pem.certPem, key: pem.keyPem, ca, servername: syslog.host, minVersion: 'TLSv1.2' };
        },
        logger: env.logger,
        timers: env.timers,
      });
    },
    stop: (exporter) => exporter?.close(),
  };
}

/** The hash-chained log; checkpoints are signed with the gateway's current SVID, and `exporter` follows it. */
export function auditLogComponent(
  env: GatewayEnv,
  identity: GatewayIdentity,
  exporter: SyslogExporter | null,
): Component<AuditLog> {
  const a = env.config.audit;
  return {
    name: 'audit-log',
    start: async () => {
      const audit = await AuditLog.open({
        dir: a.dir,
        segmentBytes: a.segmentBytes,
        fsync: a.fsync,
        values: a.values,
        failurePolicy: a.failurePolicy,
        minFreeBytes: a.minFreeBytes,
        capacity: { capacityBytes: a.capacityBytes, warnPercent: a.capacityWarnPercent, reserveBytes: a.reserveBytes },
        registry: env.metrics.registry,
        checkpoint: {
          everyEvents: a.checkpoint.everyEvents,
          everyMs: a.checkpoint.everyMs,
          signer: svidCheckpointSigner(() => {
            const svid = identity.source.getX509Svid();
            return { privateKey: svid.privateKey, chainPem: svidPem(svid).certPem, spiffeId: svid.id.toString() };
          }),
        },
        logger: env.logger,
        timers: env.timers,
      });
      exporter?.attach(audit);
      return audit;
    },
    stop: (audit) => audit.close(),
  };
}

export interface ThrottleDeps {
  readonly audit: AuditLog;
  readonly policy: PolicyHolder;
  readonly trust: TrustRuntime;
  readonly sessions: SessionRegistry;
}

/**
 * What peers without rights can make the gateway write is rate-bounded and summarized; authorised events
 * pass straight through (policy, trust and admin events use the audit log itself). A denial flood locks the
 * identity for a while.
 */
export function auditThrottleComponent(env: GatewayEnv, deps: ThrottleDeps): Component<AuditThrottle> {
  const { audit, policy, trust, sessions } = deps;
  return {
    name: 'audit-throttle',
    start: () =>
      startRateBoundedAudit({
        log: audit,
        now: env.now,
        throttle: env.config.audit.throttle,
        denialFlood: env.config.audit.denialFlood,
        policy: () => policy.current,
        lock: (target, by, reason, expiresAt) => trust.lock(target, by, reason, expiresAt),
        pruneLocks: () => void trust.locks.list(),
        endSessions: (id, reason) => void sessions.endMatching((s) => s.peer.id === id, reason),
        registry: env.metrics.registry,
        logger: env.logger,
        timers: env.timers,
      }).throttle,
    stop: (throttle) => throttle.close(),
  };
}
