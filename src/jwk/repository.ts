import type { Kysely, Transaction } from 'kysely';
import { ConflictError } from '../http/errors.js';
import { isDeadlock, isUniqueViolation } from '../persistence/errors.js';
import type { Tables } from '../persistence/tables.js';

const REPLACE_ATTEMPTS = 10;

export interface StoredKey {
  setId: string;
  kid: string;
  /** Public JWK JSON; null for symmetric keys. */
  publicJwk: string | null;
  /** Sealed full JWK; null when only the public part was imported. */
  sealedPrivateJwk: string | null;
  createdAt: number;
}

export interface KeyRepository {
  /** Keys of a set, newest first. */
  listSet(setId: string): Promise<StoredKey[]>;
  /** Adds keys to a set; ConflictError when a kid is taken. One transaction. */
  add(keys: StoredKey[]): Promise<void>;
  /** Replaces a whole set atomically. */
  replaceSet(setId: string, keys: StoredKey[]): Promise<void>;
  /** Inserts or replaces one key atomically. */
  upsert(key: StoredKey): Promise<void>;
  deleteSet(setId: string): Promise<boolean>;
  deleteKey(setId: string, kid: string): Promise<boolean>;
}

export class SqlKeyRepository implements KeyRepository {
  constructor(private readonly db: Kysely<Tables>) {}

  async listSet(setId: string): Promise<StoredKey[]> {
    const rows = await this.db.selectFrom('jwks').selectAll().where('set_id', '=', setId).orderBy('pk', 'desc').execute();
    return rows.map((row) => ({
      setId: row.set_id,
      kid: row.kid,
      publicJwk: row.public_jwk,
      sealedPrivateJwk: row.private_jwk,
      createdAt: row.created_at,
    }));
  }

  async add(keys: StoredKey[]): Promise<void> {
    try {
      await this.db.transaction().execute(async (tx) => {
        for (const key of keys) await tx.insertInto('jwks').values(toRow(key)).execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError('A key with this kid already exists in this set.');
      throw error;
    }
  }

  async replaceSet(setId: string, keys: StoredKey[]): Promise<void> {
    await this.replacing(async (tx) => {
      await tx.deleteFrom('jwks').where('set_id', '=', setId).execute();
      for (const key of keys) await tx.insertInto('jwks').values(toRow(key)).execute();
    });
  }

  async upsert(key: StoredKey): Promise<void> {
    await this.replacing(async (tx) => {
      await tx.deleteFrom('jwks').where('set_id', '=', key.setId).where('kid', '=', key.kid).execute();
      await tx.insertInto('jwks').values(toRow(key)).execute();
    });
  }

  /**
   * Runs a delete-then-insert transaction. Two of them racing on one kid both find nothing to delete under
   * PostgreSQL's read committed, and the second insert hits the unique key; running it again then deletes
   * the winner's row, so the last writer wins as it would one at a time. Under MySQL the two may
   * deadlock instead: the one the database chose as the victim wrote nothing, and runs again too.
   */
  private async replacing(work: (tx: Transaction<Tables>) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction().execute(work);
        return;
      } catch (error) {
        if (!isUniqueViolation(error) && !isDeadlock(error)) throw error;
        if (attempt >= REPLACE_ATTEMPTS) throw new ConflictError('The key set was changed concurrently; try again.');
      }
    }
  }

  async deleteSet(setId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('jwks').where('set_id', '=', setId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async deleteKey(setId: string, kid: string): Promise<boolean> {
    const result = await this.db.deleteFrom('jwks').where('set_id', '=', setId).where('kid', '=', kid).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function toRow(key: StoredKey) {
  return {
    set_id: key.setId,
    kid: key.kid,
    public_jwk: key.publicJwk,
    private_jwk: key.sealedPrivateJwk,
    created_at: key.createdAt,
  };
}
