import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { createTable, createTextIndex, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

const autoIncrementKey = (dialect: Dialect) => (dialect === 'postgres' ? 'bigserial' : dialect === 'mysql' ? 'bigint' : 'integer');

export const m0001Init: VersionedMigration = {
  name: '0001-init',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'clients', (table) =>
      table
        .addColumn('id', types.key(KEY_CHARS.id), (c) => c.primaryKey())
        .addColumn('client_name', types.text, (c) => c.notNull().defaultTo(types.textDefault('')))
        .addColumn('owner', types.text, (c) => c.notNull().defaultTo(types.textDefault('')))
        .addColumn('secret_hash', types.text)
        .addColumn('registration_token_hash', types.text)
        .addColumn('document', types.text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull()),
    );
    await createTextIndex(db, dialect, 'clients_client_name_idx', 'clients', 'client_name');
    await createTextIndex(db, dialect, 'clients_owner_idx', 'clients', 'owner');

    await createTable(db, dialect, 'jwks', (table) =>
      table
        .addColumn('pk', autoIncrementKey(dialect), (c) => {
          const key = c.primaryKey();
          return dialect === 'postgres' ? key : key.autoIncrement();
        })
        .addColumn('set_id', types.key(KEY_CHARS.id), (c) => c.notNull())
        .addColumn('kid', types.key(KEY_CHARS.id), (c) => c.notNull())
        .addColumn('public_jwk', types.text)
        .addColumn('private_jwk', types.text)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('jwks_set_kid_unique', ['set_id', 'kid']),
    );
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('jwks').execute();
    await db.schema.dropTable('clients').execute();
  },
};
