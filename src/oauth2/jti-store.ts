import type { Kysely } from 'kysely';
import { sha256Hex } from '../crypto/keyring.js';
import type { Logger } from '../observability/logger.js';
import { GroupCommit } from '../persistence/group-commit.js';
import type { Tables, UsedJtiRow } from '../persistence/tables.js';
import { insertUnlessLive } from '../persistence/upsert.js';
import { type Clock, systemClock } from '../util/clock.js';

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
  /** Uses outside transactions: the ids of requests served in the same turn of the event loop share one statement and commit. */
  private readonly uses = new GroupCommit<UsedJtiRow, boolean>({
    writeGroup: (rows) => this.record(rows),
    writeOne: (row) => this.recordOne(row),
  });

  /**
   * `logger` reports failed background sweeps; without one (the CLI, which records no ids) they go
   * unreported. `clock` tells which ids have expired (the registry's, so a test can move it).
   */
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly logger?: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records `id` in `namespace` as used until `expiresAt` (ms); false when it is already recorded: a replay. */
  async use(namespace: string, id: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const hash = sha256Hex(`${namespace}\n${id}`);
    this.sweep(now);
    const row = { jti_hash: hash, expires_at: expiresAt };
    return this.db.isTransaction ? this.recordOne(row) : this.uses.write(row);
  }

  private async recordOne(row: UsedJtiRow): Promise<boolean> {
    const [recorded] = await this.record([row]);
    return recorded === true;
  }

  /**
   * One statement: a new id is inserted, an id whose earlier use has expired is taken over, and a
   * live one is left alone (no error, which would abort an enclosing PostgreSQL transaction). The
   * database decides, so a replay is refused on every node sharing it.
   */
  private record(rows: UsedJtiRow[]): Promise<boolean[]> {
    return insertUnlessLive(this.db, 'used_jtis', rows, 'jti_hash', 'expires_at', this.clock.now());
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
