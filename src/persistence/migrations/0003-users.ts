import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { createTable, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/** The identity UI's users: credentials and standard OpenID Connect claims. */
export const m0003Users: VersionedMigration = {
  name: '0003-users',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'users', (table) =>
      table
        .addColumn('id', types.key(KEY_CHARS.id), (c) => c.primaryKey())
        .addColumn('username', types.key(KEY_CHARS.id), (c) => c.notNull())
        .addColumn('email', types.key(KEY_CHARS.email))
        .addColumn('password_hash', types.text, (c) => c.notNull())
        .addColumn('claims', types.text, (c) => c.notNull().defaultTo(types.textDefault('{}')))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    );
    // Unique indexes: they are what looking a person up by username or email uses, and what keeps both unique.
    await db.schema.createIndex('users_username_idx').on('users').column('username').unique().execute();
    // Several users may have no email: NULLs never collide in a unique index (in every store).
    await db.schema.createIndex('users_email_idx').on('users').column('email').unique().execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('users').execute();
  },
};
