import type { Kysely } from 'kysely';
import { createTable, createTextIndex, dropIndex, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/**
 * Trust relationships of the JWT-bearer grant (RFC 7523, Hydra's trusted issuers): an issuer whose
 * key signs assertions for one subject (or any), within a scope, until a time. `identity_hash`
 * (SHA-256 of issuer, subject and key id) is what must be unique, as Hydra's (issuer, subject, kid)
 * constraint: hashed, so the key fits MySQL's index limit whatever the lengths.
 */
export const m0008JwtBearerTrusts: VersionedMigration = {
  name: '0008-jwt-bearer-trusts',
  async up(db, dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'jwt_bearer_trusts', (table) =>
      table
        .addColumn('id', types.key(KEY_CHARS.id), (c) => c.primaryKey())
        .addColumn('identity_hash', types.key(KEY_CHARS.hash), (c) => c.notNull().unique())
        .addColumn('issuer', types.text, (c) => c.notNull())
        .addColumn('subject', types.text, (c) => c.notNull())
        .addColumn('allow_any_subject', 'integer', (c) => c.notNull())
        .addColumn('scope', types.text, (c) => c.notNull())
        .addColumn('key_id', types.text, (c) => c.notNull())
        .addColumn('public_jwk', types.text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
    );
    await createTextIndex(db, dialect, 'jwt_bearer_trusts_issuer_idx', 'jwt_bearer_trusts', 'issuer');
  },
  async down(db: Kysely<unknown>, dialect) {
    await dropIndex(db, dialect, 'jwt_bearer_trusts_issuer_idx', 'jwt_bearer_trusts');
    await db.schema.dropTable('jwt_bearer_trusts').execute();
  },
};
