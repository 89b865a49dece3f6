import { type Kysely, sql } from 'kysely';
import type { Tables } from '../persistence/tables.js';

/** What to clean up and how hard; `portcullis janitor` and the scheduled run inside `serve` share it. */
export interface JanitorOptions {
  /** Expired tokens, and revoked or used ones. */
  tokens: boolean;
  /** Ended login sessions, and consent sessions nothing depends on any more. */
  requests: boolean;
  /** Expired `used_jtis` entries (JWT client assertions and JWT-bearer grants seen). */
  grants: boolean;
  /** At most this many rows deleted per table in one run. */
  limit: number;
  /** Rows deleted per statement; each batch is its own short statement. */
  batchSize: number;
  /** Leave rows that expired (or were revoked or used) less than this many milliseconds ago. */
  keepIfYounger: number;
  /** Epoch ms (tests); default: now. */
  now?: number;
}

export interface JanitorResult {
  tokens: number;
  loginSessions: number;
  consentSessions: number;
  usedJtis: number;
  /** DELETE statements run (one per batch). */
  statements: number;
}

export type JanitorTable = keyof Omit<JanitorResult, 'statements'>;

export const JANITOR_TABLES: readonly JanitorTable[] = ['tokens', 'loginSessions', 'consentSessions', 'usedJtis'];

/**
 * Deletes what is no longer needed, table by table, in batches: each DELETE picks at most `batchSize`
 * keys with a subquery, so no row is ever loaded into memory and no lock is held for long. The keys
 * are selected from a derived table (`batch`) because MySQL refuses both LIMIT in an IN subquery and
 * a subquery reading the table being deleted from; a derived table it materializes first. Never deletes
 * an active, unexpired token, and never a consent session a token still belongs to (deleting one
 * cascades to its tokens).
 */
export async function runJanitor(db: Kysely<Tables>, options: JanitorOptions): Promise<JanitorResult> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error('janitor: batch size must be a positive integer');
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new Error('janitor: limit must be a positive integer');
  if (!Number.isFinite(options.keepIfYounger) || options.keepIfYounger < 0)
    throw new Error('janitor: keep-if-younger must not be negative');
  const cutoff = (options.now ?? Date.now()) - options.keepIfYounger;
  const result: JanitorResult = { tokens: 0, loginSessions: 0, consentSessions: 0, usedJtis: 0, statements: 0 };

  const inBatches = async (deleteBatch: (size: number) => Promise<number>): Promise<number> => {
    let total = 0;
    while (total < options.limit) {
      const size = Math.min(options.batchSize, options.limit - total);
      const deleted = await deleteBatch(size);
      result.statements += 1;
      total += deleted;
      if (deleted < size) break;
    }
    return total;
  };

  if (options.tokens) {
    result.tokens = await inBatches(async (size) => {
      const outcome = await db
        .deleteFrom('oauth2_tokens')
        .where('signature', 'in', (eb) =>
          eb
            .selectFrom(
              eb
                .selectFrom('oauth2_tokens')
                .select('signature')
                .where((w) =>
                  w.or([
                    w.and([w('expires_at', '!=', 0), w('expires_at', '<', cutoff)]),
                    // Revoked or used: aged from its use when it was used (a refresh token in its grace period stays).
                    w.and([w('active', '=', 0), w(w.fn.coalesce('used_at', 'requested_at'), '<', cutoff)]),
                  ]),
                )
                .limit(size)
                .as('batch'),
            )
            .select('batch.signature'),
        )
        .executeTakeFirst();
      return Number(outcome.numDeletedRows);
    });
  }

  if (options.requests) {
    result.loginSessions = await inBatches(async (size) => {
      const outcome = await db
        .deleteFrom('login_sessions')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom(eb.selectFrom('login_sessions').select('id').where('expires_at', '<', cutoff).limit(size).as('batch'))
            .select('batch.id'),
        )
        .executeTakeFirst();
      return Number(outcome.numDeletedRows);
    });
    result.consentSessions = await inBatches(async (size) => {
      const outcome = await db
        .deleteFrom('consent_sessions')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom((inner) =>
              inner
                .selectFrom('consent_sessions as c')
                .select('c.id')
                .where('c.handled_at', '<', cutoff)
                .where((w) =>
                  w.or([
                    w('c.remember', '=', 0),
                    // Remembered for a while, and that while is over (remember_for is in seconds; 0 = forever).
                    w.and([w('c.remember_for', '>', 0), w(sql<number>`c.handled_at + c.remember_for * 1000`, '<', cutoff)]),
                  ]),
                )
                .where((w) =>
                  w.not(
                    w.exists(w.selectFrom('oauth2_tokens as t').select(sql<number>`1`.as('one')).whereRef('t.consent_id', '=', 'c.id')),
                  ),
                )
                .limit(size)
                .as('batch'),
            )
            .select('batch.id'),
        )
        .executeTakeFirst();
      return Number(outcome.numDeletedRows);
    });
  }

  if (options.grants) {
    result.usedJtis = await inBatches(async (size) => {
      const outcome = await db
        .deleteFrom('used_jtis')
        .where('jti_hash', 'in', (eb) =>
          eb
            .selectFrom(eb.selectFrom('used_jtis').select('jti_hash').where('expires_at', '<', cutoff).limit(size).as('batch'))
            .select('batch.jti_hash'),
        )
        .executeTakeFirst();
      return Number(outcome.numDeletedRows);
    });
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
