/**
 * The audit trail's event time, as ISO 8601 (each event's `time`, checkpoints' and failures' times). Under load
 * many events fall in one millisecond: they share one string, so the clock builds a Date and its text once per
 * millisecond, not once per event.
 */
import type { Timers } from '../timers.js';

export class EventClock {
  private isoAt = Number.NaN;
  private iso = '';

  constructor(private readonly timers: Pick<Timers, 'now'>) {}

  now(): string {
    const ms = this.timers.now();
    if (ms !== this.isoAt) {
      this.isoAt = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }
}
