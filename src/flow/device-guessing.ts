import type { Config } from '../config/schema.js';
import { TokenBuckets, TooManyRequestsError } from '../http/rate-limit.js';
import type { Clock } from '../util/clock.js';

/** Device challenges one network address may open per hour (and at once). */
const CHALLENGES_PER_HOUR = 20;
/** User codes one device challenge may be tried with. */
const ATTEMPTS_PER_CHALLENGE = 5;
/** Addresses and challenges remembered (least recently used forgotten first). */
const MAX_TRACKED = 100_000;

/**
 * The limits on guessing user codes (RFC 8628 §5.1), in this process's memory: each network address
 * may open CHALLENGES_PER_HOUR device challenges an hour (the verification endpoint is public), and
 * each challenge may be tried with ATTEMPTS_PER_CHALLENGE user codes in its lifetime (the accept call
 * comes from the verification app's server, so its address says nothing about the guesser). One
 * address thus tests at most 20 × 5 = 100 codes an hour; see docs/grants.md for the odds.
 */
export class DeviceGuessingLimits {
  private readonly challenges: TokenBuckets;
  private readonly attempts: TokenBuckets;

  constructor(config: Config, clock: Clock) {
    const now = () => clock.now();
    this.challenges = new TokenBuckets(CHALLENGES_PER_HOUR / 3600, CHALLENGES_PER_HOUR, MAX_TRACKED, now);
    const perSecond = ATTEMPTS_PER_CHALLENGE / (config.ttl.login_consent_request / 1000);
    this.attempts = new TokenBuckets(perSecond, ATTEMPTS_PER_CHALLENGE, MAX_TRACKED, now);
  }

  /** Takes one challenge from the address's allowance; 429 when it has none left. */
  openChallenge(address: string): void {
    const outcome = this.challenges.take([`ip:${address}`]);
    if (!outcome.allowed) throw new TooManyRequestsError(outcome.retryAfter);
  }

  /** Takes one user-code attempt from the challenge's allowance; 429 when it has none left. */
  tryUserCode(challengeId: string): void {
    const outcome = this.attempts.take([`challenge:${challengeId}`]);
    if (!outcome.allowed) throw new TooManyRequestsError(outcome.retryAfter);
  }
}
