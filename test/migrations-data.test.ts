import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { MIGRATIONS } from '../src/persistence/migrations/index.js';
import { migrateDown, migrateUp, pendingMigrations } from '../src/persistence/migrator.js';
import { STORES } from './support/stores.js';

/**
 * Data written at every schema version survives every later migration, and (down migrations exist
 * for all of them) going back down to that version and up again. Rows are written as raw rows, in the
 * columns the table has at that version, so the test does not depend on today's repositories.
 */

type Row = Record<string, unknown>;
/** The schema changes under the test, so its rows are untyped. */
type AnyTables = Record<string, Row>;

/** The version (1-based index into MIGRATIONS) a table first exists at, and one representative row. */
const TABLE_ROWS: { table: string; since: number; row: Row }[] = [
  {
    table: 'clients',
    since: 1,
    row: {
      id: 'client-1',
      client_name: 'Migrated',
      owner: 'owner-1',
      secret_hash: '$pbkdf2-sha256$i=1000,l=32$c2FsdA$aGFzaA',
      registration_token_hash: 'a'.repeat(64),
      document: JSON.stringify({ client_id: 'client-1', redirect_uris: ['https://app.example/cb'] }),
      created_at: 1_700_000_000_000,
      updated_at: 1_700_000_100_000,
    },
  },
  {
    table: 'jwks',
    since: 1,
    row: {
      set_id: 'hydra.openid.id-token',
      kid: 'kid-1',
      public_jwk: JSON.stringify({ kty: 'EC', kid: 'kid-1' }),
      private_jwk: 'sealed',
      created_at: 1_700_000_000_000,
    },
  },
  {
    table: 'login_sessions',
    since: 2,
    row: {
      id: 'login-1',
      subject: 'alice',
      authenticated_at: 1_700_000_000_000,
      remember: 1,
      expires_at: 1_700_086_400_000,
      identity_provider_session_id: 'idp-1',
    },
  },
  {
    table: 'consent_sessions',
    since: 2,
    row: {
      id: 'consent-1',
      client_id: 'client-1',
      subject: 'alice',
      login_session_id: 'login-1',
      granted_scope: JSON.stringify(['openid']),
      granted_audience: JSON.stringify([]),
      remember: 1,
      remember_for: 3600,
      handled_at: 1_700_000_000_000,
      document: JSON.stringify({ consent_request: { challenge: 'consent-1' } }),
    },
  },
  {
    table: 'oauth2_tokens',
    since: 2,
    row: {
      signature: 'b'.repeat(64),
      kind: 'refresh_token',
      request_id: 'request-1',
      client_id: 'client-1',
      consent_id: 'consent-1',
      subject: 'alice',
      scope: 'openid offline',
      audience: JSON.stringify(['https://api.example']),
      session: JSON.stringify({ grantType: 'authorization_code', ext: {} }),
      requested_at: 1_700_000_000_000,
      expires_at: 0,
      active: 1,
      used_at: 1_700_000_050_000,
      used_count: 2,
    },
  },
  { table: 'used_jtis', since: 2, row: { jti_hash: 'c'.repeat(64), expires_at: 1_700_000_600_000 } },
  { table: 'forced_subjects', since: 2, row: { subject: 'alice', client_id: 'client-1', forced_subject: 'forced-alice' } },
  {
    table: 'users',
    since: 3,
    row: {
      id: '7f8c1f7e-3d2a-4b5c-9e1f-2a3b4c5d6e7f',
      username: 'alice',
      email: 'alice@example.com',
      password_hash: '$scrypt$N=1024,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA',
      claims: JSON.stringify({ name: 'Alice' }),
      created_at: 1_700_000_000_000,
      updated_at: 1_700_000_000_000,
    },
  },
  {
    table: 'jwt_bearer_trusts',
    since: MIGRATIONS.findIndex((m) => m.name === '0008-jwt-bearer-trusts') + 1,
    row: {
      id: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
      identity_hash: 'd'.repeat(64),
      issuer: 'https://issuer.example',
      subject: 'alice',
      allow_any_subject: 0,
      scope: JSON.stringify(['read']),
      key_id: 'kid-1',
      public_jwk: JSON.stringify({ kty: 'EC', crv: 'P-256', kid: 'kid-1', x: 'x', y: 'y' }),
      created_at: 1_700_000_000_000,
      expires_at: 1_800_000_000_000,
    },
  },
  {
    table: 'pushed_authorization_requests',
    since: MIGRATIONS.findIndex((m) => m.name === '0010-pushed-authorization-requests') + 1,
    row: { id_hash: 'e'.repeat(64), client_id: 'client-1', parameters: 'v1.sealed', expires_at: 1_700_000_090_000 },
  },
];

/** Migration 0006 adds `clients.self_registered` (default 0: existing clients count as admin-created). */
const CLIENT_ORIGIN_VERSION = MIGRATIONS.findIndex((m) => m.name === '0006-client-origin') + 1;

/** Migration 0007 adds `clients.rotated_secret_hashes` (null: no rotated secrets). */
const ROTATED_SECRETS_VERSION = MIGRATIONS.findIndex((m) => m.name === '0007-client-rotated-secrets') + 1;

/**
 * The row as written at `version`: from 0006 on, a client says where it came from (here:
 * registration); from 0007 on, it may hold rotated secrets' hashes (here: one).
 */
function writtenRow(table: string, row: Row, version: number): Row {
  if (table !== 'clients') return row;
  const origin = version >= CLIENT_ORIGIN_VERSION ? { self_registered: 1 } : {};
  const rotated =
    version >= ROTATED_SECRETS_VERSION ? { rotated_secret_hashes: JSON.stringify(['$pbkdf2-sha256$i=1000,l=32$c2FsdA$aGFzaA']) } : {};
  return { ...row, ...origin, ...rotated };
}

/** A row written at `version` as it reads back at `readAt`: older clients gain the columns' defaults. */
function expectedRow(table: string, row: Row, version: number, readAt: number): Row {
  const written = writtenRow(table, row, version);
  if (table !== 'clients') return written;
  const origin = version < CLIENT_ORIGIN_VERSION && readAt >= CLIENT_ORIGIN_VERSION ? { self_registered: 0 } : {};
  const rotated = version < ROTATED_SECRETS_VERSION && readAt >= ROTATED_SECRETS_VERSION ? { rotated_secret_hashes: null } : {};
  return { ...written, ...origin, ...rotated };
}

async function readTable(db: Kysely<AnyTables>, table: string): Promise<Row[]> {
  const rows = await db.selectFrom(table).selectAll().execute();
  // The surrogate key of jwks is the store's to choose.
  return table === 'jwks' ? rows.map(({ pk: _pk, ...rest }) => rest) : rows;
}

describe.each(STORES)('migrations carry data ($name)', (store) => {
  let database: Database | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await database?.close();
    await drop?.();
    database = undefined;
    drop = undefined;
  });

  it.each(MIGRATIONS.map((migration, index) => ({ name: migration.name, version: index + 1 })))(
    'rows written at $name survive every later migration, and down and up again',
    async ({ version }) => {
      const data = await store.create();
      drop = data.drop;
      database = openDatabase(data.dsn);
      // Up to the end, then down to this version: the only way the migrator reaches one.
      await migrateUp(database);
      await migrateDown(database, MIGRATIONS.length - version);
      expect(await pendingMigrations(database)).toEqual(MIGRATIONS.slice(version).map((m) => m.name));

      const db = database.db as unknown as Kysely<AnyTables>;
      const present = TABLE_ROWS.filter((t) => t.since <= version);
      // In dependency order: consents and tokens reference the client, tokens the consent.
      for (const { table, row } of present)
        await db
          .insertInto(table)
          .values(writtenRow(table, row, version))
          .execute();
      const expectAll = async (readAt: number) => {
        for (const { table, row } of present) {
          expect(await readTable(db, table), `${table} at version ${readAt}`).toEqual([expectedRow(table, row, version, readAt)]);
        }
      };

      expect(await migrateUp(database)).toEqual(MIGRATIONS.slice(version).map((m) => m.name));
      await expectAll(MIGRATIONS.length);

      await migrateDown(database, MIGRATIONS.length - version);
      await expectAll(version);
      await migrateUp(database);
      await expectAll(MIGRATIONS.length);
    },
  );
});
