import type { Kysely } from 'kysely';
import type { VersionedMigration } from './migration.js';

/**
 * Whether a client was created (or last rewritten) through dynamic registration: the server's own
 * requests to a self-registered client's URLs are held to the private-address rule at fetch time too
 * (docs/security.md), and only the row can tell who chose those URLs. Existing clients are taken as
 * admin-created, which keeps the rule they were registered under.
 */
export const m0006ClientOrigin: VersionedMigration = {
  name: '0006-client-origin',
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('clients')
      .addColumn('self_registered', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('clients').dropColumn('self_registered').execute();
  },
};
