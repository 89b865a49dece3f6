/**
 * The server's time source, in milliseconds since the epoch. The registry holds one (the system
 * clock unless told otherwise), so that a test can move time forward instead of sleeping.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
