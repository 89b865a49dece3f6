import { randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.js';
import type { SecretHasher } from '../crypto/hasher.js';
import { sha256Base64 } from '../crypto/keyring.js';
import { randomString } from '../crypto/random.js';
import { fetchJson, type OutboundPolicy } from '../http/outbound.js';
import type { Tracing } from '../observability/tracing.js';
import type { Clock } from '../util/clock.js';
import { LruMap } from '../util/lru.js';

// Client authentication's per-registry state, apart from client-auth.ts so that the registry can
// build it without importing the module that reads the registry (no import cycle).

/** Verified secrets are remembered at most this many at a time (least recently used forgotten first). */
const MAX_VERIFIED_SECRETS = 1024;
/** A verified secret is verified again after this long at the latest. */
const VERIFIED_SECRET_MAX_AGE_MS = 10 * 60_000;
/** A `jwks_uri` answer is used for at most this long before it is fetched again. */
const JWKS_URI_MAX_AGE_MS = 5 * 60_000;
/** An assertion with an unknown key id refetches `jwks_uri`, but not more often than this. */
const JWKS_URI_REFETCH_COOLDOWN_MS = 1_000;
/** At most this many `jwks_uri` answers are kept. */
const MAX_JWKS_URIS = 256;

/**
 * PBKDF2 (or bcrypt) verification is deliberately slow, and the token endpoint is a hot path: a
 * client doing client_credentials repeatedly would pay it on every call. So successful
 * verifications are remembered, keyed by a keyed hash of (client id, presented secret, stored hash):
 *
 * - whether a secret matches a hash never changes, so an entry can only ever repeat a verdict the
 *   hasher would give again: the stored hash is part of the key, so a changed secret or a deleted
 *   client takes effect as soon as this node reads the client again (at once after its own writes,
 *   within `cache.ttl` after another node's, see ClientService.find);
 * - an entry lives at most VERIFIED_SECRET_MAX_AGE_MS, and at most MAX_VERIFIED_SECRETS entries
 *   exist (about 150 KB), the least recently used dropped first; `cache.ttl: 0` turns the cache off;
 * - only successes are remembered; the key is a SHA-256 over a per-process random key and the
 *   data, so memory holds no unkeyed hash of a secret;
 * - concurrent requests presenting the same credentials share one verification, so an expired entry
 *   costs one hash, not one per connection.
 */
export class VerifiedSecrets {
  private readonly entries = new LruMap<string, number>(MAX_VERIFIED_SECRETS);
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly key = randomBytes(32).toString('base64');

  constructor(private readonly enabled: boolean) {}

  /** `registry` is the registry's slice this needs (its hasher). */
  async verify(registry: { readonly hasher: SecretHasher }, clientId: string, secret: string, hash: string): Promise<boolean> {
    if (!this.enabled) return registry.hasher.verify(secret, hash);
    // SHA-256 over a per-process random key and the data: keyed, and a fraction of an HMAC's cost
    // (this runs on every authenticated request). Only a lookup key, never shown to anyone.
    const key = sha256Base64(this.key + JSON.stringify([clientId, secret, hash]));
    const until = this.entries.get(key);
    if (until !== undefined) {
      if (until > Date.now()) return true;
      this.entries.delete(key);
    }
    let verdict = this.pending.get(key);
    if (!verdict) {
      verdict = registry.hasher.verify(secret, hash).then((ok) => {
        if (ok) this.add(key);
        return ok;
      });
      const settled = verdict;
      this.pending.set(key, settled);
      settled.then(
        () => this.pending.delete(key),
        () => this.pending.delete(key),
      );
    }
    return verdict;
  }

  private add(key: string): void {
    this.entries.set(key, Date.now() + VERIFIED_SECRET_MAX_AGE_MS);
  }
}

/** Keys of a set that could not be used to verify an assertion: refused alike, whatever the cause. */
export class AssertionKeysError extends Error {}

/**
 * Key sets fetched from clients' `jwks_uri`, per URI and outbound policy (a self-registered client's
 * fetch is guarded where an admin-created client's with the same URI may not be), each for a
 * bounded time. Only sets of at most `clients.jwks.max_keys` keys are kept; any other answer is a
 * failure, kept until the cooldown passes.
 */
class JwksUriCache {
  private readonly entries = new LruMap<string, { keys: Promise<JWK[]>; fetchedAt: number }>(MAX_JWKS_URIS);

  constructor(
    private readonly clock: Clock,
    private readonly tracing: Tracing | undefined,
  ) {}

  /** The keys at a URI; `refresh` refetches unless the cached set is younger than the cooldown. */
  get(config: Config, uri: string, policy: OutboundPolicy, refresh: boolean): Promise<JWK[]> {
    const now = this.clock.now();
    const cacheKey = `${policy.disallowPrivateIpRanges}\n${uri}`;
    // A hit does not count as a use: the set fetched longest ago goes first.
    const hit = this.entries.peek(cacheKey);
    const age = hit ? now - hit.fetchedAt : Number.POSITIVE_INFINITY;
    if (hit && age < JWKS_URI_MAX_AGE_MS && (!refresh || age < JWKS_URI_REFETCH_COOLDOWN_MS)) return hit.keys;
    const keys = fetchKeySet(uri, policy, config.clients.jwks.max_keys, this.tracing);
    this.entries.set(cacheKey, { keys, fetchedAt: now });
    // A failed fetch is not kept beyond the cooldown: the next request after it tries again.
    keys.catch(() => {
      setTimeout(() => {
        if (this.entries.peek(cacheKey)?.keys === keys) this.entries.delete(cacheKey);
      }, JWKS_URI_REFETCH_COOLDOWN_MS).unref();
    });
    return keys;
  }
}

/** The keys a `jwks_uri` answers: a JSON Web Key Set of 1 to `maxKeys` keys, else an AssertionKeysError. */
async function fetchKeySet(uri: string, policy: OutboundPolicy, maxKeys: number, tracing: Tracing | undefined): Promise<JWK[]> {
  let document: unknown;
  try {
    document = await fetchJson(uri, policy, { tracing });
  } catch (error) {
    throw new AssertionKeysError(`The client’s jwks_uri could not be fetched: ${(error as Error).message}`);
  }
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new AssertionKeysError('The client’s jwks_uri does not hold a JSON Web Key Set.');
  if (keys.length > maxKeys) {
    throw new AssertionKeysError(`The client’s jwks_uri holds ${keys.length} keys, more than clients.jwks.max_keys (${maxKeys}).`);
  }
  return keys as JWK[];
}

/**
 * Client authentication's per-process state, held by the registry: the verified-secret cache, the
 * `jwks_uri` cache, and the dummy hash that refusals without a real hash are checked against.
 */
export class ClientAuthState {
  readonly secrets: VerifiedSecrets;
  readonly jwks: JwksUriCache;
  private dummyHash: Promise<string> | undefined;

  /** `tracing` traces the `jwks_uri` fetches (the registry's, when on). */
  constructor(config: Config, clock: Clock, tracing?: Tracing) {
    this.secrets = new VerifiedSecrets(config.cache.ttl > 0);
    this.jwks = new JwksUriCache(clock, tracing);
  }

  /** Checks `secret` against a hash of a random secret, with the configured hasher's cost; never matches. */
  async spendSecretCheck(hasher: SecretHasher, secret: string): Promise<void> {
    this.dummyHash ??= hasher.hash(randomString(32));
    await hasher.verify(secret, await this.dummyHash);
  }
}
