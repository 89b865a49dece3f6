import { LruMap } from '../util/lru.js';

/** `ui.login.throttle.*`, in milliseconds where it is a time. */
export interface SignInThrottleSettings {
  /** Failed sign-ins per account (the username or email as typed, normalised) before any delay. */
  accountFreeAttempts: number;
  /** Failed sign-ins per network address before any delay (higher: many people may share one address). */
  addressFreeAttempts: number;
  /** The first delay once the free attempts are spent; each further failure doubles it. */
  baseDelayMs: number;
  /** The longest delay: however long an attack lasts, a sign-in is never refused for longer after it stops. */
  maxDelayMs: number;
  /** One failure is forgotten per this much time, so the delays shrink back once the guessing stops. */
  decayMs: number;
  /** Most accounts and addresses remembered; the least recently used are forgotten first. */
  maxEntries: number;
  /** Password checks (scrypt) running at once; more wait in line. */
  maxConcurrentHashes: number;
  /** Password checks waiting for a free slot; beyond that a sign-in is refused as busy. */
  maxQueuedHashes: number;
}

interface Failures {
  /** Failures remembered at `at` (fractional: they decay continuously). */
  count: number;
  /** Epoch ms of the last update. */
  at: number;
  /** Epoch ms before which no sign-in for this key is checked. */
  lockedUntil: number;
}

/** What a sign-in is checked against: who it claims to be, and where it comes from. */
export interface SignInKeys {
  /** The login as normalised for lookup (`normalizeLogin`): the same for an existing and an unknown account. */
  account: string;
  address: string;
}

/**
 * Sign-in throttling for the identity UI, in this process's memory (each UI process counts its own):
 *
 * - per account and per address, failures beyond a free allowance each lock that key for a delay
 *   that doubles per failure up to `maxDelayMs`, while one failure is forgotten per `decayMs`;
 * - a locked sign-in is refused before any lookup or hashing, whatever its password, so guessing
 *   costs the server nothing and a right password cannot be told from a wrong one while locked;
 * - keys are the login string as typed, so an unknown username is counted, delayed and answered
 *   exactly as an existing one;
 * - refusals do not count as failures, and a lock never outlasts `maxDelayMs` after the last checked
 *   failure, so an attacker cannot lock a person out for longer than they keep guessing;
 * - password checks run at most `maxConcurrentHashes` at a time (scrypt holds libuv's thread pool,
 *   which everything else in the process shares), with at most `maxQueuedHashes` waiting.
 */
export class SignInThrottle {
  private readonly failures: LruMap<string, Failures>;
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly settings: SignInThrottleSettings,
    private readonly clock: () => number = Date.now,
  ) {
    this.failures = new LruMap(settings.maxEntries);
  }

  /** Seconds until a sign-in with these keys may be checked; 0 when it may be now. */
  retryAfter(keys: SignInKeys): number {
    const now = this.clock();
    const lockedUntil = Math.max(...this.keysOf(keys).map(([key]) => this.failures.peek(key)?.lockedUntil ?? 0));
    return lockedUntil > now ? Math.ceil((lockedUntil - now) / 1000) : 0;
  }

  /** Counts a checked sign-in that failed (wrong password or unknown account) against both keys. */
  failed(keys: SignInKeys): void {
    const now = this.clock();
    for (const [key, free] of this.keysOf(keys)) {
      const entry = this.decayed(key, now);
      entry.count += 1;
      entry.lockedUntil = now + this.delay(entry.count - free);
      this.failures.set(key, entry);
    }
  }

  /**
   * The account's failures are forgotten after it signs in; the address's are not, or a guesser
   * could clear its address by signing in to an account of its own between guesses.
   */
  succeeded(keys: SignInKeys): void {
    this.failures.delete(`account:${keys.account}`);
  }

  /** Runs `work` (a password check) when a hashing slot is free; undefined, without running it, when the queue is full. */
  async hashing<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.settings.maxConcurrentHashes) {
      if (this.queue.length >= this.settings.maxQueuedHashes) return undefined;
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, so `running` only drops when nobody waits.
      const next = this.queue.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  private keysOf(keys: SignInKeys): Array<[string, number]> {
    return [
      [`account:${keys.account}`, this.settings.accountFreeAttempts],
      [`address:${keys.address}`, this.settings.addressFreeAttempts],
    ];
  }

  /** The key's entry with the failures that decayed since its last update forgotten. */
  private decayed(key: string, now: number): Failures {
    const entry = this.failures.get(key);
    if (!entry) return { count: 0, at: now, lockedUntil: 0 };
    const forgotten = this.settings.decayMs > 0 ? (now - entry.at) / this.settings.decayMs : entry.count;
    return { count: Math.max(0, entry.count - forgotten), at: now, lockedUntil: entry.lockedUntil };
  }

  /** Milliseconds of lock after a failure `excess` beyond the free allowance (none within it). */
  private delay(excess: number): number {
    if (excess <= 0) return 0;
    const { baseDelayMs, maxDelayMs } = this.settings;
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(Math.ceil(excess) - 1, 30));
  }
}
