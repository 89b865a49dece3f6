import type { FastifyRequest } from 'fastify';
import { LruMap } from '../util/lru.js';
import { parseBasicCredentials } from './basic-credentials.js';
import { HttpError } from './errors.js';

/** 429 with OAuth's error JSON shape (see docs/security.md for why not `temporarily_unavailable`). */
export class TooManyRequestsError extends HttpError {
  constructor(retryAfterSeconds: number) {
    super(
      'too_many_requests',
      429,
      'The client or the network address it calls from has sent too many requests.',
      `Retry in ${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}.`,
    );
    this.withHeader('retry-after', String(retryAfterSeconds));
  }
}

interface Bucket {
  tokens: number;
  /** Epoch ms of the last refill. */
  at: number;
}

/**
 * Token buckets by key (`ip:…`, `client:…`) in this process's memory: each holds at most `burst`
 * tokens and refills at `rate` per second. At most `maxBuckets` are kept; the least recently used
 * are forgotten first (a forgotten bucket comes back full, which only ever errs towards allowing).
 */
export class TokenBuckets {
  private readonly buckets: LruMap<string, Bucket>;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    maxBuckets: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.buckets = new LruMap(maxBuckets);
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token from every key's bucket when each has one; otherwise takes none and returns the
   * seconds until all of them will have one.
   */
  take(keys: readonly string[]): { allowed: true } | { allowed: false; retryAfter: number } {
    const now = this.clock();
    const buckets = keys.map((key) => this.bucket(key, now));
    const short = Math.max(...buckets.map((bucket) => 1 - bucket.tokens));
    if (short > 0) return { allowed: false, retryAfter: Math.max(1, Math.ceil(short / this.rate)) };
    for (const bucket of buckets) bucket.tokens -= 1;
    return { allowed: true };
  }

  private bucket(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
      bucket.at = now;
    } else {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}

/**
 * Public routes that are rate-limited when `serve.public.rate_limit.enabled`. Every route that
 * authenticates a client (token and revocation) is here and charges the same `client:` bucket, so
 * secret guesses cannot move to whichever endpoint is not limited.
 */
export const RATE_LIMITED_ROUTES: ReadonlySet<string> = new Set([
  '/oauth2/token',
  '/oauth2/revoke',
  '/oauth2/auth',
  '/oauth2/register',
  '/oauth2/register/:id',
]);

/** The client a request names (Basic credentials, or `client_id` in the body or query), unauthenticated. */
export function claimedClientId(request: FastifyRequest): string | undefined {
  // Credentials that do not parse name no client: the request is refused before any secret is checked.
  const basic = parseBasicCredentials(request.headers.authorization);
  if (basic?.ok) return basic.id;
  for (const source of [request.body, request.query]) {
    if (source && typeof source === 'object') {
      const value = (source as Record<string, unknown>).client_id;
      if (typeof value === 'string' && value !== '') return value;
    }
  }
  return undefined;
}

/** The preHandler hook limiting the public listener's token, authorization and registration endpoints. */
export function rateLimitHook(settings: { requests_per_second: number; burst: number; max_buckets: number }) {
  const buckets = new TokenBuckets(settings.requests_per_second, settings.burst, settings.max_buckets);
  return async (request: FastifyRequest): Promise<void> => {
    const route = request.routeOptions.url;
    if (route === undefined || !RATE_LIMITED_ROUTES.has(route)) return;
    const keys = [`ip:${request.ip}`];
    const client = claimedClientId(request);
    if (client !== undefined) keys.push(`client:${client}`);
    const outcome = buckets.take(keys);
    if (!outcome.allowed) throw new TooManyRequestsError(outcome.retryAfter);
  };
}
