import type { Kysely } from 'kysely';
import { sha256Hex } from '../crypto/keyring.js';
import type { JwtBearerTrustRow, Tables } from '../persistence/tables.js';
import { insertIfAbsent } from '../persistence/upsert.js';

/** A trust relationship as the admin API shows it (Hydra's `trust.Grant`), times in epoch ms. */
export interface JwtBearerTrust {
  id: string;
  issuer: string;
  subject: string;
  allowAnySubject: boolean;
  scope: string[];
  keyId: string;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

/**
 * The trusted issuers of the JWT-bearer grant (`jwt_bearer_trusts`). Each holds the issuer's public
 * key itself, so deleting a trust also forgets its key.
 */
export class JwtBearerTrustStore {
  constructor(private readonly db: Kysely<Tables>) {}

  /** Stores a trust; false when one for the same issuer, subject and key id exists already. */
  create(trust: JwtBearerTrust): Promise<boolean> {
    const row: JwtBearerTrustRow = {
      id: trust.id,
      identity_hash: sha256Hex(`${trust.issuer}\n${trust.subject}\n${trust.keyId}`),
      issuer: trust.issuer,
      subject: trust.subject,
      allow_any_subject: trust.allowAnySubject ? 1 : 0,
      scope: JSON.stringify(trust.scope),
      key_id: trust.keyId,
      public_jwk: JSON.stringify(trust.publicJwk),
      created_at: trust.createdAt,
      expires_at: trust.expiresAt,
    };
    return insertIfAbsent(this.db, this.db.insertInto('jwt_bearer_trusts').values(row), 'identity_hash');
  }

  async get(id: string): Promise<JwtBearerTrust | undefined> {
    const row = await this.db.selectFrom('jwt_bearer_trusts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  /** The unexpired trusts that let `issuer` assert `subject` (named, or any subject). */
  async findFor(issuer: string, subject: string, now: number): Promise<JwtBearerTrust[]> {
    const rows = await this.db
      .selectFrom('jwt_bearer_trusts')
      .selectAll()
      .where('issuer', '=', issuer)
      .where('expires_at', '>', now)
      .where((eb) => eb.or([eb('subject', '=', subject), eb('allow_any_subject', '=', 1)]))
      .execute();
    return rows.map(fromRow);
  }

  /** Deletes a trust; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const outcome = await this.db.deleteFrom('jwt_bearer_trusts').where('id', '=', id).executeTakeFirst();
    return Number(outcome.numDeletedRows) > 0;
  }

  /** At most `limit` trusts ordered by id, after `afterId` when given, of one issuer when given. */
  async list(options: { issuer?: string; afterId?: string; limit: number }): Promise<JwtBearerTrust[]> {
    let query = this.db.selectFrom('jwt_bearer_trusts').selectAll().orderBy('id').limit(options.limit);
    if (options.issuer !== undefined) query = query.where('issuer', '=', options.issuer);
    if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
    return (await query.execute()).map(fromRow);
  }

  /** The janitor: deletes at most `limit` trusts that expired before `cutoff` (epoch ms); how many it deleted. */
  async deleteExpired(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('jwt_bearer_trusts')
      // A derived table for the batch's keys, as MySQL requires (see SqlTokenStore.deleteExpired).
      .where('id', 'in', (eb) =>
        eb
          .selectFrom(eb.selectFrom('jwt_bearer_trusts').select('id').where('expires_at', '<', cutoff).limit(limit).as('batch'))
          .select('batch.id'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }
}

function fromRow(row: JwtBearerTrustRow): JwtBearerTrust {
  return {
    id: row.id,
    issuer: row.issuer,
    subject: row.subject,
    allowAnySubject: row.allow_any_subject === 1,
    scope: JSON.parse(row.scope) as string[],
    keyId: row.key_id,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}
