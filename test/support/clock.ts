import type { Clock } from '../../src/util/clock.js';

/**
 * A clock a test moves forward instead of sleeping. It runs with real time plus the advances so far,
 * so code that still reads `Date.now()` stays consistent with it, off only by what the test skipped.
 */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
