import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { cascadeConstraint, createTable, inlineCascade, KEY_CHARS, schemaTypes } from './columns.js';
import type { VersionedMigration } from './migration.js';

/** Tokens, login sessions, completed consents, used assertion ids and forced subjects. */
export const m0002OAuth2: VersionedMigration = {
  name: '0002-oauth2',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    const types = schemaTypes(dialect);
    await createTable(db, dialect, 'login_sessions', (table) =>
      table
        .addColumn('id', types.key(KEY_CHARS.id), (c) => c.primaryKey())
        .addColumn('subject', types.key(KEY_CHARS.subject), (c) => c.notNull())
        .addColumn('authenticated_at', 'bigint', (c) => c.notNull())
        .addColumn('remember', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('identity_provider_session_id', types.text, (c) => c.notNull().defaultTo(types.textDefault(''))),
    );
    await db.schema.createIndex('login_sessions_subject_idx').on('login_sessions').column('subject').execute();

    await createTable(db, dialect, 'consent_sessions', (table) =>
      cascadeConstraint(
        dialect,
        table
          .addColumn('id', types.key(KEY_CHARS.id), (c) => c.primaryKey())
          .addColumn('client_id', types.key(KEY_CHARS.id), (c) => inlineCascade(dialect, c.notNull(), 'clients.id'))
          .addColumn('subject', types.key(KEY_CHARS.subject), (c) => c.notNull())
          .addColumn('login_session_id', types.key(KEY_CHARS.id), (c) => c.notNull().defaultTo(''))
          .addColumn('granted_scope', types.text, (c) => c.notNull())
          .addColumn('granted_audience', types.text, (c) => c.notNull())
          .addColumn('remember', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('remember_for', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('handled_at', 'bigint', (c) => c.notNull())
          .addColumn('document', types.text, (c) => c.notNull()),
        'consent_sessions_client_fk',
        'client_id',
        'clients.id',
      ),
    );
    await db.schema.createIndex('consent_sessions_subject_client_idx').on('consent_sessions').columns(['subject', 'client_id']).execute();
    await db.schema.createIndex('consent_sessions_login_session_idx').on('consent_sessions').column('login_session_id').execute();

    await createTable(db, dialect, 'oauth2_tokens', (table) => {
      const columns = table
        .addColumn('signature', types.key(KEY_CHARS.hash), (c) => c.primaryKey())
        .addColumn('kind', types.key(KEY_CHARS.kind), (c) => c.notNull())
        .addColumn('request_id', types.key(KEY_CHARS.id), (c) => c.notNull())
        .addColumn('client_id', types.key(KEY_CHARS.id), (c) => inlineCascade(dialect, c.notNull(), 'clients.id'))
        .addColumn('consent_id', types.key(KEY_CHARS.id), (c) => inlineCascade(dialect, c, 'consent_sessions.id'))
        .addColumn('subject', types.text, (c) => c.notNull())
        .addColumn('scope', types.text, (c) => c.notNull())
        .addColumn('audience', types.text, (c) => c.notNull())
        .addColumn('session', types.text, (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('used_at', 'bigint')
        .addColumn('used_count', 'integer', (c) => c.notNull().defaultTo(0));
      const withClient = cascadeConstraint(dialect, columns, 'oauth2_tokens_client_fk', 'client_id', 'clients.id');
      return cascadeConstraint(dialect, withClient, 'oauth2_tokens_consent_fk', 'consent_id', 'consent_sessions.id');
    });
    await db.schema.createIndex('oauth2_tokens_request_idx').on('oauth2_tokens').column('request_id').execute();
    await db.schema.createIndex('oauth2_tokens_client_idx').on('oauth2_tokens').columns(['client_id', 'kind']).execute();
    await db.schema.createIndex('oauth2_tokens_consent_idx').on('oauth2_tokens').column('consent_id').execute();
    await db.schema.createIndex('oauth2_tokens_expires_idx').on('oauth2_tokens').column('expires_at').execute();

    await createTable(db, dialect, 'used_jtis', (table) =>
      table.addColumn('jti_hash', types.key(KEY_CHARS.hash), (c) => c.primaryKey()).addColumn('expires_at', 'bigint', (c) => c.notNull()),
    );

    await createTable(db, dialect, 'forced_subjects', (table) =>
      cascadeConstraint(
        dialect,
        table
          .addColumn('subject', types.key(KEY_CHARS.subject), (c) => c.notNull())
          .addColumn('client_id', types.key(KEY_CHARS.id), (c) => inlineCascade(dialect, c.notNull(), 'clients.id'))
          .addColumn('forced_subject', types.text, (c) => c.notNull())
          .addPrimaryKeyConstraint('forced_subjects_pk', ['subject', 'client_id']),
        'forced_subjects_client_fk',
        'client_id',
        'clients.id',
      ),
    );
  },
  async down(db: Kysely<unknown>) {
    for (const table of ['forced_subjects', 'used_jtis', 'oauth2_tokens', 'consent_sessions', 'login_sessions']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
