import type { Kysely } from 'kysely';
import { createTable, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/**
 * Pushed authorization requests (RFC 9126): what a client pushed, until the authorization endpoint
 * takes it (once) or it expires. In the database rather than sealed into the `request_uri`, so
 * that any node of a cluster can redeem one a different node issued, the urn stays short enough
 * for a browser's address bar, and it can be spent once across every node (the row is deleted).
 * `id_hash` is the SHA-256 of the urn's random part, never the urn itself; `parameters` is sealed
 * with `secrets.system`. No foreign key to `clients`: a row lives minutes at most, and taking one
 * looks its client up again.
 */
export const m0010PushedAuthorizationRequests: VersionedMigration = {
  name: '0010-pushed-authorization-requests',
  async up(db, dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'pushed_authorization_requests', (table) =>
      table
        .addColumn('id_hash', types.key(KEY_CHARS.hash), (c) => c.primaryKey())
        .addColumn('client_id', types.key(KEY_CHARS.id), (c) => c.notNull())
        .addColumn('parameters', types.text, (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull()),
    );
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('pushed_authorization_requests').execute();
  },
};
