import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import type { VersionedMigration } from './migration.js';

const autoIncrementKey = (dialect: Dialect) => (dialect === 'postgres' ? 'bigserial' : 'integer');

export const m0001Init: VersionedMigration = {
  name: '0001-init',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    await db.schema
      .createTable('clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_name', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('owner', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('secret_hash', 'text')
      .addColumn('registration_token_hash', 'text')
      .addColumn('document', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('clients_client_name_idx').on('clients').column('client_name').execute();
    await db.schema.createIndex('clients_owner_idx').on('clients').column('owner').execute();

    await db.schema
      .createTable('jwks')
      .addColumn('pk', autoIncrementKey(dialect), (c) => {
        const key = c.primaryKey();
        return dialect === 'sqlite' ? key.autoIncrement() : key;
      })
      .addColumn('set_id', 'text', (c) => c.notNull())
      .addColumn('kid', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text')
      .addColumn('private_jwk', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('jwks_set_kid_unique', ['set_id', 'kid'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('jwks').execute();
    await db.schema.dropTable('clients').execute();
  },
};
