import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/**
 * The hashes of a client's rotated secrets (`POST /admin/clients/{id}/secrets/rotate`), as a JSON
 * array, newest first: each still authenticates until `DELETE …/secrets/rotate`. Null: none.
 */
export const m0007ClientRotatedSecrets: VersionedMigration = {
  name: '0007-client-rotated-secrets',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    await db.schema.alterTable('clients').addColumn('rotated_secret_hashes', schemaTypes(dialect).text).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('clients').dropColumn('rotated_secret_hashes').execute();
  },
};
