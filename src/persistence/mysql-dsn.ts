import { parseDuration } from '../config/duration.js';

/** Where and how to connect to MySQL or MariaDB, as read from a DSN. */
export interface MysqlTarget {
  host?: string;
  port?: number;
  socketPath?: string;
  user?: string;
  password?: string;
  database: string;
  /** Pool size per node (`max_conns`). */
  connectionLimit: number;
  /** Idle connections kept (`max_idle_conns`). */
  maxIdle?: number;
  /** Milliseconds before an idle connection is closed (`max_conn_idle_time`). */
  idleTimeout?: number;
  /** Milliseconds to wait for a connection (`timeout`). */
  connectTimeout?: number;
  /** TLS (`tls=true` verifies the server's certificate, `tls=skip-verify` does not). */
  ssl?: { rejectUnauthorized: boolean };
  /** Session variables set on every new connection, as the Go driver sets unknown parameters. */
  sessionVariables: Array<[name: string, value: string]>;
  /** The DSN without its password, for logs. */
  location: string;
}

/** Pool size per node when the DSN has no `max_conns` (as for PostgreSQL). */
const DEFAULT_MAX_CONNS = 10;

/**
 * Parameters of Go's MySQL driver that have nothing to act on here, accepted so that a Hydra DSN
 * works unchanged: Portcullis stores times as epoch milliseconds (no DATETIME to parse or zone:
 * parseTime, loc), always speaks utf8mb4 and gives its tables their own binary collation (charset,
 * collation), reads affected rows as matched rows already (clientFoundRows), never sends several
 * statements or interpolates on the client (multiStatements, interpolateParams), and leaves the
 * authentication plugin, packet size and socket timeouts to mysql2. `max_conn_lifetime` is Hydra's
 * pool setting: mysql2's pool recycles connections only when idle (`max_conn_idle_time`).
 */
const IGNORED_PARAMETERS: ReadonlySet<string> = new Set([
  'parseTime',
  'loc',
  'charset',
  'collation',
  'clientFoundRows',
  'columnsWithAlias',
  'multiStatements',
  'interpolateParams',
  'allowNativePasswords',
  'allowOldPasswords',
  'allowCleartextPasswords',
  'allowAllFiles',
  'allowFallbackToPlaintext',
  'checkConnLiveness',
  'maxAllowedPacket',
  'readTimeout',
  'writeTimeout',
  'rejectReadOnly',
  'serverPubKey',
  'connectionAttributes',
  'max_conn_lifetime',
]);

/** A session variable name, as `SET SESSION name = …` takes it unquoted. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads Hydra's MySQL DSN forms: Go's `mysql://user:pass@tcp(host:3306)/db?parseTime=true` (also
 * `unix(/path/to/socket)`; user and password as written, unescaped) and the URL form
 * `mysql://user:pass@host:3306/db` (user and password percent-encoded). Query parameters: Hydra's
 * pool settings `max_conns`, `max_idle_conns`, `max_conn_idle_time`; the Go driver's `timeout` and
 * `tls`; the Go driver's parameters listed in IGNORED_PARAMETERS; any other is a session variable
 * set on every connection, as the Go driver does (`sql_mode=%27ANSI%27`, `innodb_lock_wait_timeout=5`).
 */
export function parseMysqlDsn(dsn: string): MysqlTarget {
  const rest = dsn.replace(/^mysql:\/\//, '');
  const queryAt = rest.indexOf('?');
  const main = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : rest.slice(queryAt + 1));
  // Go's form names a protocol: `tcp(…)`, `unix(…)` (others, such as Windows' `pipe`, are refused there).
  const endpoint = /(?:^|@)[a-z]+\(/.test(main) ? parseGoForm(main) : parseUrlForm(dsn);
  return { ...endpoint, ...parseParameters(query), location: locationOf(endpoint) };
}

type Endpoint = Pick<MysqlTarget, 'host' | 'port' | 'socketPath' | 'user' | 'password' | 'database'>;

/** `[user[:password]@][tcp(host[:port])|unix(path)]/dbname`: the password may hold `@` or `/`. */
function parseGoForm(main: string): Endpoint {
  const slash = main.lastIndexOf('/');
  const database = main.slice(slash + 1);
  const left = main.slice(0, slash);
  const at = left.lastIndexOf('@');
  const credentials = at < 0 ? '' : left.slice(0, at);
  const match = /^(tcp|unix)\(([^)]*)\)$/.exec(left.slice(at + 1));
  if (!match) throw new Error('dsn: not a MySQL DSN: it needs tcp(host:port) or unix(/path/to/socket) before the database name');
  const colon = credentials.indexOf(':');
  const user = colon < 0 ? credentials : credentials.slice(0, colon);
  const password = colon < 0 ? undefined : credentials.slice(colon + 1);
  const address = match[2] as string;
  const endpoint: Endpoint = {
    database: requireDatabase(database),
    ...(user ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  if (match[1] === 'unix') return { ...endpoint, socketPath: address || '/tmp/mysql.sock' };
  const { host, port } = splitHostPort(address || '127.0.0.1:3306');
  return { ...endpoint, host, port };
}

function parseUrlForm(dsn: string): Endpoint {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    throw new Error('dsn: not a MySQL DSN (use mysql://user:pass@tcp(host:3306)/db or mysql://user:pass@host:3306/db)');
  }
  if (!url.hostname) throw new Error('dsn: a MySQL DSN needs a host');
  const user = decodeURIComponent(url.username);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 3306,
    database: requireDatabase(decodeURIComponent(url.pathname.replace(/^\//, ''))),
    ...(user ? { user } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

function splitHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*))(?::([0-9]+))?$/.exec(address);
  const host = match?.[1] ?? match?.[2] ?? '';
  const port = match?.[3] === undefined ? 3306 : Number(match[3]);
  if (!match || !host || port < 1 || port > 65535) throw new Error(`dsn: "${address}" is not a MySQL host[:port]`);
  return { host, port };
}

function requireDatabase(name: string): string {
  if (!name) throw new Error('dsn: a MySQL DSN needs a database name (…/dbname)');
  return name;
}

function parseParameters(query: URLSearchParams): Omit<MysqlTarget, keyof Endpoint | 'location'> {
  const target: Omit<MysqlTarget, keyof Endpoint | 'location'> = { connectionLimit: DEFAULT_MAX_CONNS, sessionVariables: [] };
  for (const [name, value] of query) {
    if (IGNORED_PARAMETERS.has(name)) continue;
    switch (name) {
      case 'max_conns':
        target.connectionLimit = positiveInteger(name, value);
        break;
      case 'max_idle_conns':
        target.maxIdle = positiveInteger(name, value);
        break;
      case 'max_conn_idle_time':
        target.idleTimeout = duration(name, value);
        break;
      case 'timeout':
        target.connectTimeout = duration(name, value);
        break;
      case 'tls':
        if (value === 'true') target.ssl = { rejectUnauthorized: true };
        else if (value === 'skip-verify') target.ssl = { rejectUnauthorized: false };
        else if (value !== 'false') throw new Error(`dsn: tls=${value} is not supported (use true, skip-verify or false)`);
        break;
      default:
        if (!VARIABLE_NAME.test(name)) throw new Error(`dsn: "${name}" is neither a known parameter nor a session variable name`);
        target.sessionVariables.push([name, value]);
    }
  }
  return target;
}

function positiveInteger(name: string, value: string): number {
  const number = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new Error(`dsn: ${name} must be a positive integer, not "${value}"`);
  }
  return number;
}

function duration(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new Error(`dsn: ${name} must be a positive duration such as 30s, not "${value}"`);
  return Math.ceil(ms);
}

function locationOf(endpoint: Endpoint): string {
  const user = endpoint.user === undefined ? '' : `${endpoint.user}${endpoint.password === undefined ? '' : ':***'}@`;
  const host = endpoint.host?.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const address = endpoint.socketPath === undefined ? `tcp(${host}:${endpoint.port})` : `unix(${endpoint.socketPath})`;
  return `mysql://${user}${address}/${endpoint.database}`;
}
