import type { Kysely } from 'kysely';
import { cascadeConstraint, createTable, dropIndex, inlineCascade, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/**
 * The device authorization grant (RFC 8628, Hydra's `hydra_oauth2_device_auth_codes`): one row per
 * device authorization request, keyed by the SHA-256 of its device code's HMAC signature, with the
 * keyed HMAC of its user code (unique: two pending requests never share a user code). Neither code
 * is stored. `state` is pending (0), granted (1), denied (2) or used (3); `session` holds what the
 * user granted (sealed like token sessions), filled in when the flow completes; `last_polled_at`
 * paces the client's polling (`slow_down`). Deleting the client deletes its rows.
 */
export const m0009DeviceCodes: VersionedMigration = {
  name: '0009-device-codes',
  async up(db, dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'device_codes', (table) =>
      cascadeConstraint(
        dialect,
        table
          .addColumn('device_code_signature', types.key(KEY_CHARS.hash), (c) => c.primaryKey())
          .addColumn('user_code_signature', types.key(KEY_CHARS.hash), (c) => c.notNull().unique())
          .addColumn('request_id', types.key(KEY_CHARS.id), (c) => c.notNull().unique())
          .addColumn('client_id', types.key(KEY_CHARS.id), (c) => inlineCascade(dialect, c.notNull(), 'clients.id'))
          .addColumn('scope', types.text, (c) => c.notNull())
          .addColumn('audience', types.text, (c) => c.notNull())
          .addColumn('state', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('session', types.text, (c) => c.notNull())
          .addColumn('requested_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('last_polled_at', 'bigint', (c) => c.notNull().defaultTo(0)),
        'device_codes_client_fk',
        'client_id',
        'clients.id',
      ),
    );
    await db.schema.createIndex('device_codes_expires_idx').on('device_codes').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>, dialect) {
    await dropIndex(db, dialect, 'device_codes_expires_idx', 'device_codes');
    await db.schema.dropTable('device_codes').execute();
  },
};
