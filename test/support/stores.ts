import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { type Connection, createConnection } from 'mysql2/promise';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/persistence/database.js';
import { migrateUp } from '../../src/persistence/migrator.js';

/**
 * The stores every repository and API test runs against. PostgreSQL comes from PORTCULLIS_TEST_POSTGRES
 * (default: this machine's server); each store gets its own schema so runs never collide.
 */
export const POSTGRES_URL = process.env.PORTCULLIS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
/** MySQL or MariaDB (PORTCULLIS_TEST_MYSQL, default: this machine's MariaDB); each store gets its own database. */
export const MYSQL_URL = process.env.PORTCULLIS_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';

/** A connection of its own to the MySQL server and database of a URL-form DSN (default: MYSQL_URL). */
export function connectMysql(dsn = MYSQL_URL): Promise<Connection> {
  const url = new URL(dsn);
  return createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
  });
}

/** Runs statements on the MySQL server of MYSQL_URL, on a connection of their own. */
async function onMysql(...statements: string[]): Promise<void> {
  const connection = await connectMysql();
  try {
    for (const statement of statements) await connection.query(statement);
  } finally {
    await connection.end();
  }
}

/** SQL run on a test store directly, whichever it is; parameters are written `$1`, `$2`, … */
export interface DirectSql {
  all(query: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Opens a store's data source (a DSN from `TestStore.create`) for direct SQL, read-only for SQLite. */
export async function openSql(dsn: string): Promise<DirectSql> {
  if (dsn.startsWith('sqlite://')) {
    const db = new SQLite(dsn.slice('sqlite://'.length), { readonly: true });
    return {
      all: async (query, params = []) => db.prepare(query.replace(/\$\d+/g, '?')).all(...params) as Record<string, unknown>[],
      close: async () => {
        db.close();
      },
    };
  }
  if (dsn.startsWith('mysql://')) {
    const connection = await connectMysql(dsn);
    return {
      all: async (query, params = []) => (await connection.query(query.replace(/\$\d+/g, '?'), params))[0] as Record<string, unknown>[],
      close: () => connection.end(),
    };
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(`set search_path to ${new URL(dsn).searchParams.get('search_path')}`);
  return { all: async (query, params = []) => (await client.query(query, params)).rows, close: () => client.end() };
}

/** A name for a schema or database no other run uses. */
const uniqueName = () => `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

export interface TestStore {
  name: 'sqlite' | 'postgres' | 'mysql';
  /** A fresh, empty data source. */
  create(): Promise<{ dsn: string; drop(): Promise<void> }>;
}

export const STORES: TestStore[] = [
  {
    name: 'sqlite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
      return { dsn: `sqlite://${join(dir, 'db.sqlite')}`, drop: async () => {} };
    },
  },
  {
    name: 'postgres',
    async create() {
      const schema = uniqueName();
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      try {
        await admin.query(`create schema ${schema}`);
      } finally {
        await admin.end();
      }
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('search_path', schema);
      url.searchParams.set('max_conns', '4');
      return {
        dsn: url.toString(),
        drop: async () => {
          const client = new pg.Client({ connectionString: POSTGRES_URL });
          await client.connect();
          try {
            await client.query(`drop schema if exists ${schema} cascade`);
          } finally {
            await client.end();
          }
        },
      };
    },
  },
  {
    name: 'mysql',
    async create() {
      const database = uniqueName();
      await onMysql(`create database ${database}`);
      const url = new URL(MYSQL_URL);
      url.pathname = `/${database}`;
      url.searchParams.set('max_conns', '4');
      return { dsn: url.toString(), drop: () => onMysql(`drop database if exists ${database}`) };
    },
  },
];

/** A fresh, empty database of a test store, opened (and with `migrate`, migrated); `close` also drops it. */
export async function openTestDatabase(
  store: TestStore,
  options: { migrate?: boolean } = {},
): Promise<{ database: Database; close(): Promise<void> }> {
  const { dsn, drop } = await store.create();
  const database = openDatabase(dsn);
  if (options.migrate) await migrateUp(database);
  return {
    database,
    close: async () => {
      await database.close();
      await drop();
    },
  };
}
