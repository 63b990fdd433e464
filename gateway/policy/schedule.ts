/**
 * Rule schedules: `{ days: mon-fri, hours: "06:00-22:00", tz: Europe/Berlin }`.
 * - days: names `sun`…`sat`, ranges `mon-fri` (may wrap: `fri-mon`), lists; default every day.
 * - hours: `HH:MM-HH:MM`, end exclusive, `24:00` allowed as an end; a window may wrap midnight
 *   (`22:00-06:00`); lists; default all day. The day test uses the local day of the instant itself, so with
 *   `days: mon, hours: 22:00-06:00` Monday 23:00 and Monday 02:00 match, Tuesday 02:00 does not.
 * - tz: an IANA zone understood by Intl; default UTC. Local time comes from Intl, so DST is handled.
 * Pure; the only state is a per-zone cache of the local time at the current 15-minute bucket (every real UTC
 * offset is a multiple of 15 minutes, so local minutes advance linearly inside a bucket).
 */
import type { ParseResult } from './ranges.js';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const BUCKET_MS = 15 * 60_000;

export interface Schedule {
  /** True when `ms` (epoch milliseconds) falls inside the schedule. */
  readonly contains: (ms: number) => boolean;
  readonly describe: string;
}

export interface ScheduleSource {
  readonly days?: string | readonly string[];
  readonly hours?: string | readonly string[];
  readonly tz?: string;
}

/** Errors come back per field so the compiler can point at `days`, `hours` or `tz`. */
export function compileSchedule(
  src: ScheduleSource,
): { ok: true; value: Schedule } | { ok: false; field: keyof ScheduleSource; error: string } {
  const days = parseDays(src.days ?? 'sun-sat');
  if (!days.ok) return { ok: false, field: 'days', error: days.error };
  const windows = parseHours(src.hours ?? '00:00-24:00');
  if (!windows.ok) return { ok: false, field: 'hours', error: windows.error };
  const tz = src.tz ?? 'UTC';
  let clock: ZoneClock;
  try {
    clock = new ZoneClock(tz);
  } catch {
    return { ok: false, field: 'tz', error: `unknown time zone ${JSON.stringify(tz)}` };
  }
  const dayMask = days.value;
  const wins = windows.value;
  const contains = (ms: number): boolean => {
    const local = clock.localMinuteOfWeek(ms);
    const day = Math.floor(local / 1440);
    const minute = local % 1440;
    if (dayMask[day] !== 1) return false;
    for (const [from, to] of wins) if (minute >= from && minute < to) return true;
    return false;
  };
  const describe = `${JSON.stringify(src.days ?? 'every day')} ${JSON.stringify(src.hours ?? 'all day')} ${tz}`;
  return { ok: true, value: { contains, describe } };
}

function dayIndex(name: string): number {
  return DAY_NAMES.indexOf(name.trim().toLowerCase().slice(0, 3) as (typeof DAY_NAMES)[number]);
}

function parseDays(spec: string | readonly string[]): ParseResult<Uint8Array> {
  const items = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(','));
  const mask = new Uint8Array(7);
  for (const item of items) {
    const [a, b, extra] = item.split('-');
    const from = dayIndex(a ?? '');
    const to = b === undefined ? from : dayIndex(b);
    if (from < 0 || to < 0 || extra !== undefined || !/^[a-z]{3}/i.test((a ?? '').trim())) {
      return { ok: false, error: `bad days ${JSON.stringify(item)} (use sun..sat, e.g. mon-fri or [sat, sun])` };
    }
    for (let d = from; ; d = (d + 1) % 7) {
      mask[d] = 1;
      if (d === to) break;
    }
  }
  return { ok: true, value: mask };
}

const HOURS = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/;

/** Windows as [fromMinute, toMinute) pairs; a wrapping window becomes two. */
function parseHours(spec: string | readonly string[]): ParseResult<readonly (readonly [number, number])[]> {
  const items = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(','));
  const out: [number, number][] = [];
  for (const item of items) {
    const m = HOURS.exec(item);
    const from = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
    const to = m ? Number(m[3]) * 60 + Number(m[4]) : NaN;
    const validMinutes = m !== null && Number(m[2]) < 60 && Number(m[4]) < 60;
    if (!validMinutes || !(from < 1440) || !(to <= 1440) || from === to) {
      return { ok: false, error: `bad hours ${JSON.stringify(item)} (use "HH:MM-HH:MM", e.g. "06:00-22:00")` };
    }
    if (from < to) out.push([from, to]);
    else out.push([from, 1440], [0, to]);
  }
  return { ok: true, value: out };
}

/** Local weekday/minute of an instant in one zone, via Intl, cached per 15-minute bucket. */
class ZoneClock {
  private readonly fmt: Intl.DateTimeFormat;
  private bucket = Number.NaN;
  private bucketMinuteOfWeek = 0;

  constructor(tz: string) {
    // Throws RangeError for an unknown zone: the caller reports it.
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
  }

  localMinuteOfWeek(ms: number): number {
    const bucket = Math.floor(ms / BUCKET_MS);
    if (bucket !== this.bucket) {
      this.bucketMinuteOfWeek = this.compute(bucket * BUCKET_MS);
      this.bucket = bucket;
    }
    const inBucket = Math.floor((ms - bucket * BUCKET_MS) / 60_000);
    return this.bucketMinuteOfWeek + inBucket;
  }

  private compute(ms: number): number {
    let day = 0;
    let hour = 0;
    let minute = 0;
    for (const p of this.fmt.formatToParts(ms)) {
      if (p.type === 'weekday') day = dayIndex(p.value);
      else if (p.type === 'hour') hour = Number(p.value) % 24;
      else if (p.type === 'minute') minute = Number(p.value);
    }
    return day * 1440 + hour * 60 + minute;
  }
}
