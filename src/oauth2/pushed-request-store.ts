import type { Kysely } from 'kysely';
import type { PushedAuthorizationRequestRow, Tables } from '../persistence/tables.js';

/** A pushed authorization request as stored: its parameters stay sealed until the caller opens them. */
export interface PushedRequestRecord {
  idHash: string;
  clientId: string;
  /** Sealed by the caller (`oauth2/pushed-request.ts`); the store never reads it. */
  sealedParameters: string;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * Pushed authorization requests (`pushed_authorization_requests`, RFC 9126), keyed by the hash of
 * their `request_uri`. `take` spends one: of any number of nodes taking the same one at once, only
 * the one whose DELETE removed the row gets it.
 */
export class PushedRequestStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async insert(record: PushedRequestRecord): Promise<void> {
    const row: PushedAuthorizationRequestRow = {
      id_hash: record.idHash,
      client_id: record.clientId,
      parameters: record.sealedParameters,
      expires_at: record.expiresAt,
    };
    await this.db.insertInto('pushed_authorization_requests').values(row).execute();
  }

  /**
   * Removes and returns the request of `clientId` with this hash, expired or not (the caller
   * refuses an expired one; it is gone either way). Another client's request is neither returned
   * nor spent, so presenting someone else's `request_uri` cannot use it up.
   */
  async take(idHash: string, clientId: string): Promise<PushedRequestRecord | undefined> {
    const row = await this.db
      .selectFrom('pushed_authorization_requests')
      .selectAll()
      .where('id_hash', '=', idHash)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (!row) return undefined;
    const outcome = await this.db
      .deleteFrom('pushed_authorization_requests')
      .where('id_hash', '=', idHash)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (Number(outcome.numDeletedRows) !== 1) return undefined;
    return { idHash: row.id_hash, clientId: row.client_id, sealedParameters: row.parameters, expiresAt: Number(row.expires_at) };
  }

  /** The janitor: deletes at most `limit` requests that expired before `cutoff` (epoch ms); how many it deleted. */
  async deleteExpired(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('pushed_authorization_requests')
      // A derived table for the batch's keys, as MySQL requires (see SqlTokenStore.deleteExpired).
      .where('id_hash', 'in', (eb) =>
        eb
          .selectFrom(
            eb.selectFrom('pushed_authorization_requests').select('id_hash').where('expires_at', '<', cutoff).limit(limit).as('batch'),
          )
          .select('batch.id_hash'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }
}
