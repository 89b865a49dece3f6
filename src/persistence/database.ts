import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseIntrospector,
  Kysely,
  MysqlDialect,
  PostgresDialect,
  type SchemaMetadata,
  type SqliteDatabase,
  SqliteDialect,
  sql,
  type TableMetadata,
} from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';
import type { Tracing } from '../observability/tracing.js';
import { parseMysqlDsn } from './mysql-dsn.js';
import { querySpans } from './query-spans.js';
import type { Tables } from './tables.js';

export type Dialect = 'sqlite' | 'postgres' | 'mysql';

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
 * Opens the store named by a DSN: `memory`, `sqlite://path`, `postgres://…` (`postgresql://`,
 * `cockroach://`) or `mysql://…`. PostgreSQL DSNs may carry `max_conns` and `search_path` query
 * parameters; MySQL DSNs are read as Hydra reads them (`parseMysqlDsn`).
 */
export interface OpenOptions {
  /** Record a span per statement (`serve` with `tracing.provider` set); without it Kysely logs nothing, at no cost. */
  tracing?: Tracing | undefined;
}

/** `db.system.name` of each store, as the semantic conventions spell it. */
const SYSTEM_NAMES: Record<Dialect, string> = { sqlite: 'sqlite', postgres: 'postgresql', mysql: 'mysql' };

/** Kysely's `log` option: the statements' spans when tracing is on. */
function logOption(options: OpenOptions, dialect: Dialect) {
  return options.tracing ? { log: querySpans(options.tracing, SYSTEM_NAMES[dialect]) } : {};
}

export function openDatabase(dsn: string, options: OpenOptions = {}): Database {
  if (dsn === 'memory' || dsn.startsWith('sqlite://') || dsn.startsWith('sqlite:')) return openSqlite(dsn, options);
  if (/^(postgres|postgresql|cockroach):\/\//.test(dsn)) return openPostgres(dsn, options);
  if (dsn.startsWith('mysql://')) return openMysql(dsn, options);
  throw new Error(`dsn: unsupported data source "${redact(dsn)}" (use memory, sqlite://file, postgres://… or mysql://…)`);
}

function openSqlite(dsn: string, options: OpenOptions): Database {
  const path = dsn === 'memory' ? ':memory:' : sqlitePath(dsn);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const connection = new SQLite(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  connection.pragma('busy_timeout = 5000');
  const checkpointer = path === ':memory:' ? undefined : new BackgroundCheckpointer(connection, path);
  const db = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: withStatementCache(connection, checkpointer) }),
    ...logOption(options, 'sqlite'),
  });
  return {
    db,
    dialect: 'sqlite',
    location: dsn === 'memory' ? 'memory' : `sqlite://${path}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** Prepared SQLite statements kept per connection; the least recently used is dropped beyond this. */
const MAX_CACHED_STATEMENTS = 256;

/**
 * The connection as Kysely sees it, but preparing each distinct SQL text once: Kysely asks for a
 * prepared statement on every query, and preparing costs more than running a lookup by key.
 * A statement is reused only once the previous run finished (one connection, used in turn), and
 * SQLite re-prepares it by itself when the schema changes. Writes are counted for the checkpointer.
 * Transactions begin IMMEDIATE (Kysely sends a plain, deferred `begin`): they take the write lock first,
 * waiting up to `busy_timeout` for it. A deferred transaction that read and then writes after another
 * process (`serve --workers`) committed fails at once with SQLITE_BUSY (its snapshot is stale, so SQLite
 * does not wait); with one process and one connection the two cost the same.
 */
function withStatementCache(connection: SQLite.Database, checkpointer: BackgroundCheckpointer | undefined): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    prepare(sqlText: string) {
      const text = sqlText === 'begin' ? 'begin immediate' : sqlText;
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text);
      } else {
        statement = connection.prepare(text);
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.delete(statements.keys().next().value as string);
      }
      statements.set(text, statement);
      if (!statement.reader) checkpointer?.wrote();
      return statement;
    },
    close() {
      statements.clear();
      connection.close();
    },
  };
}

/** Checkpoints move to the background once a connection has written this many statements. */
const BACKGROUND_AFTER_WRITES = 1000;
/** How often the background thread copies committed WAL pages into the database file. */
const CHECKPOINT_INTERVAL_MS = 100;
/**
 * With a background checkpointer, the writer checkpoints only beyond this many WAL pages (200 MB),
 * which bounds the log under sustained writes. The log starts over by itself whenever a write finds
 * everything copied, which needs a pause in the writes; under a steady stream of them it never comes,
 * the log grows, and the writer's own checkpoint (two fsyncs, a few milliseconds in which every
 * request waits) is what restarts it. At 10,000 pages that came every second or so at full load and
 * set the p99 latency of token requests; at this size it comes rarely. SQLite's default (1000 pages)
 * applies until the worker runs.
 */
const FOREGROUND_CHECKPOINT_PAGES = 50_000;
/** The WAL file is truncated to this size when it starts over. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** The checkpoint loop, run in a worker thread with its own connection (CommonJS, as `eval` workers are). */
const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
parentPort.postMessage('ready');
`;

/**
 * SQLite in WAL mode copies committed pages back into the database file (a checkpoint) from the
 * connection that commits, by default every 1000 pages, and with `synchronous = NORMAL` each
 * checkpoint waits for two fsyncs: under a steady stream of token writes that stalls every request
 * in flight for milliseconds. Once a connection has written enough to matter (short-lived tools
 * and tests never get here), a worker thread with its own connection checkpoints in the
 * background instead (PASSIVE: it never blocks the writer). Durability is unchanged: commits are
 * durable in the WAL, exactly as before. Should the worker fail, the writer checkpoints as before.
 */
class BackgroundCheckpointer {
  private writes = 0;
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;

  constructor(
    private readonly connection: SQLite.Database,
    private readonly path: string,
  ) {}

  wrote(): void {
    if (++this.writes === BACKGROUND_AFTER_WRITES) this.start();
  }

  private start(): void {
    try {
      const worker = new Worker(CHECKPOINT_WORKER, {
        eval: true,
        workerData: {
          driver: createRequire(import.meta.url).resolve('better-sqlite3'),
          path: this.path,
          intervalMs: CHECKPOINT_INTERVAL_MS,
        },
      });
      worker.unref();
      this.worker = worker;
      this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
      worker.once('message', () => {
        if (!this.connection.open || this.worker !== worker) return;
        this.connection.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        this.connection.pragma(`wal_autocheckpoint = ${FOREGROUND_CHECKPOINT_PAGES}`);
      });
      worker.once('error', () => this.fallBack(worker));
      worker.once('exit', () => this.fallBack(worker));
    } catch {
      this.worker = undefined;
    }
  }

  /** The writer checkpoints by itself again (the worker failed or stopped). */
  private fallBack(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.connection.open) this.connection.pragma('wal_autocheckpoint = 1000');
  }

  /** Stops the worker (its connection closed) before the main connection closes. */
  async stop(): Promise<void> {
    const { worker, exited } = this;
    if (!worker || !exited) return;
    this.worker = undefined;
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * PostgreSQL as Kysely speaks it, but introspecting only the current schema: Kysely's migrator asks
 * for every table of every schema just to learn whether its own migration tables exist, and that
 * catalog query fails ("schema … does not exist") when another deployment or test run drops its
 * schema at that moment; it also grows with every schema the database holds.
 */
class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    const tables = async (): Promise<TableMetadata[]> => {
      const { rows } = await sql<{ name: string; schema: string; type: string }>`
        select table_name as name, table_schema as schema, table_type as type
        from information_schema.tables where table_schema = current_schema()`.execute(db);
      return rows.map((row) => ({ name: row.name, schema: row.schema, isView: row.type === 'VIEW', columns: [] }));
    };
    return {
      getSchemas: async () => (await sql<SchemaMetadata>`select nspname as name from pg_catalog.pg_namespace`.execute(db)).rows,
      getTables: tables,
      getMetadata: async () => ({ tables: await tables() }),
    };
  }
}

function sqlitePath(dsn: string): string {
  const rest = dsn.replace(/^sqlite:(\/\/)?/, '');
  const withoutQuery = rest.split('?')[0] ?? '';
  if (withoutQuery === '') throw new Error('dsn: a sqlite DSN needs a file path, e.g. sqlite://./data/portcullis.sqlite');
  return decodeURIComponent(withoutQuery);
}

function openPostgres(dsn: string, options: OpenOptions): Database {
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
  const db = new Kysely<Tables>({ dialect: new CurrentSchemaPostgresDialect({ pool }), ...logOption(options, 'postgres') });
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

/**
 * What every MySQL connection is set to before its first query. Read committed, as PostgreSQL's
 * default: a transaction sees what others committed before each statement, and InnoDB takes no gap
 * locks, which under its default (repeatable read) make concurrent inserts and deletes of
 * neighbouring keys deadlock. Strict mode, so that a value that does not fit is refused rather
 * than cut short. Then the DSN's own session variables, which may override both.
 */
function mysqlSessionSetup(variables: ReadonlyArray<[string, string]>): string[] {
  return [
    'set session transaction isolation level read committed',
    "set session sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
    ...variables.map(([name, value]) => `set session ${name} = ${value}`),
  ];
}

function openMysql(dsn: string, options: OpenOptions): Database {
  const target = parseMysqlDsn(dsn);
  const pool = createPool({
    ...(target.socketPath === undefined ? { host: target.host, port: target.port } : { socketPath: target.socketPath }),
    ...(target.user === undefined ? {} : { user: target.user }),
    ...(target.password === undefined ? {} : { password: target.password }),
    database: target.database,
    connectionLimit: target.connectionLimit,
    ...(target.maxIdle === undefined ? {} : { maxIdle: target.maxIdle }),
    ...(target.idleTimeout === undefined ? {} : { idleTimeout: target.idleTimeout }),
    ...(target.connectTimeout === undefined ? {} : { connectTimeout: target.connectTimeout }),
    ...(target.ssl === undefined ? {} : { ssl: target.ssl }),
    charset: 'utf8mb4',
    // Epoch-millisecond bigints fit a double exactly; they come back as numbers, as from the other stores.
    supportBigNumbers: false,
  });
  // An idle connection losing its server must not crash the process; the pool opens another.
  pool.on('connection', (connection) => connection.on('error', () => {}));
  const setup = mysqlSessionSetup(target.sessionVariables);
  const db = new Kysely<Tables>({
    dialect: new MysqlDialect({
      pool,
      onCreateConnection: async (connection) => {
        for (const statement of setup) await connection.executeQuery(CompiledQuery.raw(statement));
      },
    }),
    ...logOption(options, 'mysql'),
  });
  return {
    db,
    dialect: 'mysql',
    location: target.location,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

export function redact(dsn: string): string {
  return dsn.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
