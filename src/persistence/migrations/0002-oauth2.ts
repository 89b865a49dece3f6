import type { Kysely } from 'kysely';
import type { VersionedMigration } from './migration.js';

/** Tokens, login sessions, completed consents, used assertion ids and forced subjects. */
export const m0002OAuth2: VersionedMigration = {
  name: '0002-oauth2',
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('login_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('authenticated_at', 'bigint', (c) => c.notNull())
      .addColumn('remember', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('identity_provider_session_id', 'text', (c) => c.notNull().defaultTo(''))
      .execute();
    await db.schema.createIndex('login_sessions_subject_idx').on('login_sessions').column('subject').execute();

    await db.schema
      .createTable('consent_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('login_session_id', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('granted_scope', 'text', (c) => c.notNull())
      .addColumn('granted_audience', 'text', (c) => c.notNull())
      .addColumn('remember', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('remember_for', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('handled_at', 'bigint', (c) => c.notNull())
      .addColumn('document', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('consent_sessions_subject_client_idx').on('consent_sessions').columns(['subject', 'client_id']).execute();
    await db.schema.createIndex('consent_sessions_login_session_idx').on('consent_sessions').column('login_session_id').execute();

    await db.schema
      .createTable('oauth2_tokens')
      .addColumn('signature', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('consent_id', 'text', (c) => c.references('consent_sessions.id').onDelete('cascade'))
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('audience', 'text', (c) => c.notNull())
      .addColumn('session', 'text', (c) => c.notNull())
      .addColumn('requested_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('used_at', 'bigint')
      .addColumn('used_count', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('oauth2_tokens_request_idx').on('oauth2_tokens').column('request_id').execute();
    await db.schema.createIndex('oauth2_tokens_client_idx').on('oauth2_tokens').columns(['client_id', 'kind']).execute();
    await db.schema.createIndex('oauth2_tokens_consent_idx').on('oauth2_tokens').column('consent_id').execute();
    await db.schema.createIndex('oauth2_tokens_expires_idx').on('oauth2_tokens').column('expires_at').execute();

    await db.schema
      .createTable('used_jtis')
      .addColumn('jti_hash', 'text', (c) => c.primaryKey())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('forced_subjects')
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('forced_subject', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('forced_subjects_pk', ['subject', 'client_id'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of ['forced_subjects', 'used_jtis', 'oauth2_tokens', 'consent_sessions', 'login_sessions']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
