import type { Kysely } from 'kysely';
import type { VersionedMigration } from './migration.js';

/** The identity UI's users: credentials and standard OpenID Connect claims. */
export const m0003Users: VersionedMigration = {
  name: '0003-users',
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // Unique indexes: they are what looking a person up by username or email uses, and what keeps both unique.
    await db.schema.createIndex('users_username_idx').on('users').column('username').unique().execute();
    // Several users may have no email: NULLs never collide in a unique index (SQLite and PostgreSQL alike).
    await db.schema.createIndex('users_email_idx').on('users').column('email').unique().execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('users').execute();
  },
};
