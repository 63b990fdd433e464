/** The one results table (markdown), the machine line above it, and number formatting. */
import os from 'node:os';

export interface Row {
  readonly n: string;
  readonly what: string;
  readonly value: string;
  readonly baseline?: string;
  readonly ratio?: string;
  readonly aim?: string;
  /** true/false when the aim applies and was measured, else undefined. */
  readonly met?: boolean;
}

export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `Machine: ${cpu.trim()}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.release()}; load average at start ${load}`;
}

const esc = (s: string): string => s.replace(/\|/g, '\\|');

export function renderTable(rows: readonly Row[]): string {
  const head = ['#', 'Measurement', 'Result', 'Baseline (same run)', 'Ratio / added', 'Aim', 'Met'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const met = r.met === undefined ? '' : r.met ? 'yes' : 'NO';
    const cells = [r.n, r.what, r.value, r.baseline ?? '', r.ratio ?? '', r.aim ?? '', met];
    lines.push(`| ${cells.map(esc).join(' | ')} |`);
  }
  return lines.join('\n');
}

export const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`;
export const signedMs = (us: number): string => `${us >= 0 ? '+' : '−'}${(Math.abs(us) / 1000).toFixed(3)} ms`;
export const perSec = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`;
export const times = (r: number): string => `${r.toFixed(2)}×`;
export const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;
export const ns = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(0)} µs` : `${(n / 1000).toFixed(2)} µs`);
