import type { TokenLifespans } from '../oauth2/token-store.js';
import type { Stores } from '../persistence/persister.js';

/** What to clean up and how hard; `portcullis janitor` and the scheduled run inside `serve` share it. */
export interface JanitorOptions {
  /** Expired tokens, and revoked or used ones; expired device authorization requests. */
  tokens: boolean;
  /** Ended login sessions, and consent sessions nothing depends on any more. */
  requests: boolean;
  /** Expired `used_jtis` entries (JWT client assertions and JWT-bearer grants seen), expired JWT-bearer trusts and expired pushed authorization requests. */
  grants: boolean;
  /** At most this many rows deleted per table in one run. */
  limit: number;
  /** Rows deleted per statement; each batch is its own short statement. */
  batchSize: number;
  /** Leave rows that expired (or were revoked or used) less than this many milliseconds ago. */
  keepIfYounger: number;
  /**
   * Hydra's `--access-lifespan` and `--refresh-lifespan` (milliseconds): when set, a token of that kind
   * also counts as expired once it was issued longer ago than this, whatever expiry it was issued with.
   */
  lifespans?: TokenLifespans;
  /** Epoch ms (tests); default: now. */
  now?: number;
}

export interface JanitorResult {
  tokens: number;
  loginSessions: number;
  consentSessions: number;
  usedJtis: number;
  /** Expired trust relationships of the JWT-bearer grant (`jwt_bearer_trusts`). */
  jwtBearerTrusts: number;
  /** Expired pushed authorization requests (`pushed_authorization_requests`, RFC 9126) never taken. */
  pushedRequests: number;
  /** Expired device authorization requests (`device_codes`). */
  deviceCodes: number;
  /** Batches run (one DELETE each; those of revoked and used tokens find their keys with a SELECT first). */
  statements: number;
}

export type JanitorTable = keyof Omit<JanitorResult, 'statements'>;

export const JANITOR_TABLES: readonly JanitorTable[] = [
  'tokens',
  'loginSessions',
  'consentSessions',
  'usedJtis',
  'jwtBearerTrusts',
  'pushedRequests',
  'deviceCodes',
];

/** The stores the janitor cleans; each owns the DELETE for its tables. */
export type JanitorStores = Pick<Stores, 'tokens' | 'sessions' | 'jtis' | 'trusts' | 'pushedRequests' | 'devices'>;

/**
 * Deletes what is no longer needed, table by table, in batches: each DELETE picks at most `batchSize`
 * keys with a subquery (see `SqlTokenStore.deleteExpired`), so no row is ever loaded into memory and
 * no lock is held for long; the pass over revoked and used tokens reads a batch of keys first, to walk
 * the table once (`SqlTokenStore.deleteRetired`). Never deletes an active, unexpired token, and never a
 * consent session a token still belongs to (deleting one cascades to its tokens).
 */
export async function runJanitor(stores: JanitorStores, options: JanitorOptions): Promise<JanitorResult> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error('janitor: batch size must be a positive integer');
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new Error('janitor: limit must be a positive integer');
  if (!Number.isFinite(options.keepIfYounger) || options.keepIfYounger < 0)
    throw new Error('janitor: keep-if-younger must not be negative');
  for (const lifespan of Object.values(options.lifespans ?? {})) {
    if (!Number.isFinite(lifespan) || lifespan <= 0) throw new Error('janitor: a token lifespan must be positive');
  }
  const cutoff = (options.now ?? Date.now()) - options.keepIfYounger;
  const result: JanitorResult = {
    tokens: 0,
    loginSessions: 0,
    consentSessions: 0,
    usedJtis: 0,
    jwtBearerTrusts: 0,
    pushedRequests: 0,
    deviceCodes: 0,
    statements: 0,
  };

  // A batch answers how many it deleted (fewer than asked: the table is done), or that and whether to go on.
  const inBatches = async (
    deleteBatch: (size: number) => Promise<number | { deleted: number; more: boolean }>,
    limit = options.limit,
  ): Promise<number> => {
    let total = 0;
    while (total < limit) {
      const size = Math.min(options.batchSize, limit - total);
      const outcome = await deleteBatch(size);
      const { deleted, more } = typeof outcome === 'number' ? { deleted: outcome, more: outcome === size } : outcome;
      result.statements += 1;
      total += deleted;
      if (!more) break;
    }
    return total;
  };

  if (options.tokens) {
    // Expired tokens by the expiry index, then the revoked and used ones in one pass in key order.
    result.tokens = await inBatches((size) => stores.tokens.deleteExpired(cutoff, size));
    let after: string | undefined;
    if (result.tokens < options.limit) {
      result.tokens += await inBatches(async (size) => {
        const batch = await stores.tokens.deleteRetired(cutoff, size, options.lifespans, after);
        after = batch.last;
        return { deleted: batch.deleted, more: batch.last !== undefined };
      }, options.limit - result.tokens);
    }
    result.deviceCodes = await inBatches((size) => stores.devices.deleteExpired(cutoff, size));
  }
  if (options.requests) {
    result.loginSessions = await inBatches((size) => stores.sessions.deleteEndedLoginSessions(cutoff, size));
    result.consentSessions = await inBatches((size) => stores.sessions.deleteStaleConsents(cutoff, size));
  }
  if (options.grants) {
    result.usedJtis = await inBatches((size) => stores.jtis.deleteExpired(cutoff, size));
    result.jwtBearerTrusts = await inBatches((size) => stores.trusts.deleteExpired(cutoff, size));
    result.pushedRequests = await inBatches((size) => stores.pushedRequests.deleteExpired(cutoff, size));
  }
  return result;
}

/** The options when none of `tokens`, `requests` and `grants` is chosen: all of them (as Hydra's janitor). */
export function withDefaultTargets<T extends Partial<Pick<JanitorOptions, 'tokens' | 'requests' | 'grants'>>>(
  flags: T,
): Pick<JanitorOptions, 'tokens' | 'requests' | 'grants'> {
  const any = Boolean(flags.tokens || flags.requests || flags.grants);
  return {
    tokens: any ? Boolean(flags.tokens) : true,
    requests: any ? Boolean(flags.requests) : true,
    grants: any ? Boolean(flags.grants) : true,
  };
}
