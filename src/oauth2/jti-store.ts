import type { Kysely } from 'kysely';
import { sha256Hex } from '../crypto/keyring.js';
import type { Logger } from '../observability/logger.js';
import type { Tables } from '../persistence/tables.js';
import { insertIfAbsent } from '../persistence/upsert.js';

/** Expired rows are swept at most this often (the janitor removes the rest in bulk). */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Single-use identifiers (`used_jtis`): client-assertion `jti`s and verifiable-credential nonces,
 * each remembered until it would expire anyway, so a second use within its lifetime is a replay.
 * Only a SHA-256 of (namespace, identifier) is stored: the namespace keeps one client's ids (or one
 * kind of id) from colliding with another's, and the table never holds a usable value.
 */
export class UsedJtiStore {
  private lastSweep = 0;

  /** `logger` reports failed background sweeps; without one (the CLI, which records no ids) they go unreported. */
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly logger?: Logger,
  ) {}

  /** Records `id` in `namespace` as used until `expiresAt` (ms); false when it is already recorded: a replay. */
  async use(namespace: string, id: string, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    const hash = sha256Hex(`${namespace}\n${id}`);
    this.sweep(now);
    // An id whose earlier use has expired may be used again.
    await this.db.deleteFrom('used_jtis').where('jti_hash', '=', hash).where('expires_at', '<=', now).execute();
    // A taken id is no error (which would abort an enclosing PostgreSQL transaction): nothing is inserted.
    return insertIfAbsent(this.db, this.db.insertInto('used_jtis').values({ jti_hash: hash, expires_at: expiresAt }), 'jti_hash');
  }

  /** Deletes expired rows in the background, at most every SWEEP_INTERVAL_MS. */
  private sweep(now: number): void {
    // Not within a unit of work: the sweep outlives the request, and so would outlive its transaction.
    if (this.db.isTransaction || now - this.lastSweep <= SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    this.db
      .deleteFrom('used_jtis')
      .where('expires_at', '<=', now)
      .execute()
      .catch((error: unknown) => this.logger?.warn({ err: error }, 'could not sweep expired single-use ids'));
  }

  /** The janitor: deletes at most `limit` ids that expired before `cutoff` (epoch ms); how many it deleted. */
  async deleteExpired(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('used_jtis')
      // A derived table for the batch's keys, as MySQL requires (see SqlTokenStore.deleteExpired).
      .where('jti_hash', 'in', (eb) =>
        eb
          .selectFrom(eb.selectFrom('used_jtis').select('jti_hash').where('expires_at', '<', cutoff).limit(limit).as('batch'))
          .select('batch.jti_hash'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }
}
