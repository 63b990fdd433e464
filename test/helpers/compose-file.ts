/**
 * A compose file as Compose itself resolves it (`docker-compose -f FILE config`, Debian's Compose 1.29: it
 * validates and normalises without a Docker engine), and the small readers the topology checks share.
 */
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { REPO_ROOT } from './tools.js';

export type Mount = { source: string; target: string; readOnly: boolean };
export interface Service {
  image?: string;
  build?: { context: string } | string;
  command?: string[];
  entrypoint?: string[];
  networks?: Record<string, { aliases?: string[] } | null> | string[];
  network_mode?: string;
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }> | string[];
  restart?: string;
  pid?: string;
  user?: string;
  ports?: (string | { target: number; published?: number | string; host_ip?: string })[];
}
export interface ComposeConfig {
  services: Record<string, Service>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
}

/** The resolved config, or why it could not be had (a sentence naming the fix). */
export function composeConfig(file: string): ComposeConfig | string {
  const r = spawnSync('docker-compose', ['-f', file, 'config'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 15_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return 'docker-compose is not installed: apt-get install docker-compose (Compose 1.29 validates the file without an engine)';
  }
  if (r.status !== 0) return `docker-compose config failed (${r.status ?? r.signal}): ${r.stderr}`;
  return parse(r.stdout) as ComposeConfig;
}

export function networksOf(s: Service): string[] {
  if (!s.networks) return s.network_mode ? [] : ['default'];
  return Array.isArray(s.networks) ? s.networks : Object.keys(s.networks);
}

export function mountsOf(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/** The condition `s` waits for on `name` (`service_started` for the short list form), or null. */
export function dependsOn(s: Service, name: string): string | null {
  const d = s.depends_on;
  if (!d) return null;
  if (Array.isArray(d)) return d.includes(name) ? 'service_started' : null;
  return d[name] ? (d[name]?.condition ?? 'service_started') : null;
}

/** Published ports as `hostIp:published->target` (`*` for every address). */
export function publishedPorts(s: Service): string[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return `${p.host_ip ?? '*'}:${String(p.published ?? '')}->${p.target}`;
    const parts = p.split(':');
    const target = (parts.pop() ?? '').replace(/\/tcp$/, '');
    const published = parts.pop() ?? '';
    return `${parts.pop() ?? '*'}:${published}->${target}`;
  });
}

/** The version tag of an image reference, or '' when it has none. */
export function imageTag(image: string | undefined): string {
  const i = image ?? '';
  const slash = i.lastIndexOf('/');
  const colon = i.lastIndexOf(':');
  return colon > slash ? i.slice(colon + 1) : '';
}
