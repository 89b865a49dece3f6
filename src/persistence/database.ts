import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Tables } from './tables.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<Tables>;
  readonly dialect: Dialect;
  /** Where the data lives, with any password removed (for logs). */
  readonly location: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 columns (epoch milliseconds) come back as numbers, as they do from SQLite.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * Opens the store named by a DSN: `memory`, `sqlite://path`, or `postgres://…` (`postgresql://`,
 * `cockroach://`). PostgreSQL DSNs may carry `max_conns` and `search_path` query parameters.
 */
export function openDatabase(dsn: string): Database {
  if (dsn === 'memory' || dsn.startsWith('sqlite://') || dsn.startsWith('sqlite:')) return openSqlite(dsn);
  if (/^(postgres|postgresql|cockroach):\/\//.test(dsn)) return openPostgres(dsn);
  throw new Error(`dsn: unsupported data source "${redact(dsn)}" (use memory, sqlite://file or postgres://…)`);
}

function openSqlite(dsn: string): Database {
  const path = dsn === 'memory' ? ':memory:' : sqlitePath(dsn);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const connection = new SQLite(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  connection.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: connection }) });
  return {
    db,
    dialect: 'sqlite',
    location: dsn === 'memory' ? 'memory' : `sqlite://${path}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

function sqlitePath(dsn: string): string {
  const rest = dsn.replace(/^sqlite:(\/\/)?/, '');
  const withoutQuery = rest.split('?')[0] ?? '';
  if (withoutQuery === '') throw new Error('dsn: a sqlite DSN needs a file path, e.g. sqlite://./data/portcullis.sqlite');
  return decodeURIComponent(withoutQuery);
}

function openPostgres(dsn: string): Database {
  const parsed = new URL(dsn.replace(/^(cockroach|postgresql):/, 'postgres:'));
  const maxConns = Number(parsed.searchParams.get('max_conns') ?? 10);
  const searchPath = parsed.searchParams.get('search_path');
  parsed.searchParams.delete('max_conns');
  parsed.searchParams.delete('search_path');
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: Number.isInteger(maxConns) && maxConns > 0 ? maxConns : 10,
    ...(searchPath ? { options: `-c search_path=${searchPath}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    location: redact(dsn),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

export function redact(dsn: string): string {
  return dsn.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
