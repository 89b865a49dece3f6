import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlClientRepository } from '../src/client/repository.js';
import { SqlSessionStore } from '../src/flow/session-store.js';
import { SqlTokenStore } from '../src/oauth2/token-store.js';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { KEY_CHARS } from '../src/persistence/migrations/columns.js';
import { parseMysqlDsn } from '../src/persistence/mysql-dsn.js';
import { SqlPersister } from '../src/persistence/persister.js';
import { storedClient } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { MYSQL_URL, openTestDatabase, STORES } from './support/stores.js';

describe('MySQL DSNs as Hydra writes them', () => {
  it('reads the Go driver form, with tcp or a unix socket', () => {
    expect(parseMysqlDsn('mysql://hydra:secret@tcp(db.example:3307)/hydra?parseTime=true')).toMatchObject({
      host: 'db.example',
      port: 3307,
      user: 'hydra',
      password: 'secret',
      database: 'hydra',
      connectionLimit: 10,
      sessionVariables: [],
      location: 'mysql://hydra:***@tcp(db.example:3307)/hydra',
    });
    // Go's driver takes the password as written: it may hold '@', ':' and '/'.
    expect(parseMysqlDsn('mysql://root:p@ss:w/rd@tcp(127.0.0.1)/db')).toMatchObject({
      user: 'root',
      password: 'p@ss:w/rd',
      host: '127.0.0.1',
      port: 3306,
      database: 'db',
    });
    const socket = parseMysqlDsn('mysql://root@unix(/run/mysqld/mysqld.sock)/db');
    expect(socket).toMatchObject({ socketPath: '/run/mysqld/mysqld.sock', user: 'root', database: 'db' });
    expect(socket.host).toBeUndefined();
    expect(socket.password).toBeUndefined();
    expect(parseMysqlDsn('mysql://u@tcp([::1]:3306)/db')).toMatchObject({
      host: '::1',
      port: 3306,
      location: 'mysql://u@tcp([::1]:3306)/db',
    });
  });

  it('reads the URL form, percent-decoding user and password', () => {
    expect(parseMysqlDsn('mysql://us%40er:p%2Fw@localhost:3308/portcullis')).toMatchObject({
      host: 'localhost',
      port: 3308,
      user: 'us@er',
      password: 'p/w',
      database: 'portcullis',
      location: 'mysql://us@er:***@tcp(localhost:3308)/portcullis',
    });
    expect(parseMysqlDsn('mysql://root@127.0.0.1/db')).toMatchObject({ port: 3306, user: 'root' });
  });

  it("honours Hydra's pool parameters and the driver's timeout and tls, and ignores what does not apply", () => {
    const target = parseMysqlDsn(
      'mysql://u:p@tcp(h:3306)/db?parseTime=true&charset=utf8mb4&loc=UTC&max_conns=20&max_idle_conns=4&max_conn_idle_time=30s&max_conn_lifetime=1h&timeout=5s&tls=skip-verify',
    );
    expect(target).toMatchObject({ connectionLimit: 20, maxIdle: 4, idleTimeout: 30_000, connectTimeout: 5000 });
    expect(target.ssl).toEqual({ rejectUnauthorized: false });
    expect(target.sessionVariables).toEqual([]);
    expect(parseMysqlDsn('mysql://u@tcp(h)/db?tls=true').ssl).toEqual({ rejectUnauthorized: true });
    expect(parseMysqlDsn('mysql://u@tcp(h)/db?tls=false').ssl).toBeUndefined();
  });

  it('sets any other parameter as a session variable, as the Go driver does', () => {
    expect(parseMysqlDsn('mysql://u@tcp(h)/db?innodb_lock_wait_timeout=5&time_zone=%27%2B00:00%27').sessionVariables).toEqual([
      ['innodb_lock_wait_timeout', '5'],
      ['time_zone', "'+00:00'"],
    ]);
  });

  it('refuses what it cannot honour, naming it', () => {
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/')).toThrow(/database name/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h:99999)/db')).toThrow(/host\[:port\]/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/db?max_conns=0')).toThrow(/max_conns must be a positive integer/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/db?max_conns=ten')).toThrow(/max_conns/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/db?timeout=soon')).toThrow(/timeout must be a positive duration/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/db?tls=custom')).toThrow(/tls=custom is not supported/);
    expect(() => parseMysqlDsn('mysql://u@tcp(h)/db?bad-name=1')).toThrow(/"bad-name" is neither/);
    expect(() => parseMysqlDsn('mysql://u@pipe(h)/db')).toThrow(/not a MySQL DSN|needs a host/);
  });

  it('opens either form against the server, with the session variables set', async () => {
    const url = new URL(MYSQL_URL);
    const user = decodeURIComponent(url.username);
    const password = url.password ? `:${decodeURIComponent(url.password)}` : '';
    const go = `mysql://${user}${password}@tcp(${url.hostname}:${url.port || 3306})${url.pathname}?parseTime=true&innodb_lock_wait_timeout=7`;
    for (const dsn of [go, MYSQL_URL]) {
      const database = openDatabase(dsn);
      try {
        await database.ping();
        expect(database.dialect).toBe('mysql');
        expect(database.location).not.toContain(decodeURIComponent(url.password) || '\u0000');
        const { rows: version } = await sql<{ version: string }>`select version() as version`.execute(database.db);
        // MySQL 8 calls it transaction_isolation; MariaDB before 11.1 only tx_isolation.
        const isolation = sql.raw(
          /mariadb/i.test(version[0]?.version ?? '') ? '@@session.tx_isolation' : '@@session.transaction_isolation',
        );
        const { rows } = await sql<{ wait: number; isolation: string }>`
          select @@session.innodb_lock_wait_timeout as wait, ${isolation} as isolation`.execute(database.db);
        expect(rows[0]?.isolation).toBe('READ-COMMITTED');
        if (dsn === go) expect(Number(rows[0]?.wait)).toBe(7);
      } finally {
        await database.close();
      }
    }
  });
});

describe.each(STORES)('ids, tokens and secrets compare exactly ($name)', (store) => {
  let database: Database;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ database, close } = await openTestDatabase(store, { migrate: true }));
  });
  afterAll(() => close?.());

  it('tells ids apart by case, accents and trailing spaces', async () => {
    const clients = new SqlClientRepository(database.db);
    await clients.insert(storedClient('abc'));
    for (const other of ['ABC', 'abc ', 'àbc']) {
      expect(await clients.find(other)).toBeUndefined();
      await clients.insert(storedClient(other));
      expect((await clients.find(other))?.client.client_id).toBe(other);
    }
    expect((await clients.list({ limit: 10, afterId: 'abc' })).items.map((c) => c.client.client_id)).not.toContain('abc');
  });

  it('finds a token only by its exact signature', async () => {
    const tokens = new SqlTokenStore(database.db);
    const token = {
      signature: 'a1b2c3',
      kind: 'refresh_token' as const,
      requestId: 'r-1',
      clientId: 'abc',
      consentId: null,
      subject: 'subject',
      scope: [],
      audience: [],
      session: { grantType: 'refresh_token', ext: {} },
      requestedAt: Date.now(),
      expiresAt: 0,
      active: true,
      usedAt: null,
      usedCount: 0,
    };
    await tokens.insert([token]);
    expect(await tokens.find('A1B2C3')).toBeUndefined();
    expect(await tokens.find('a1b2c3 ')).toBeUndefined();
    expect(await tokens.markUsed('A1B2C3', Date.now())).toBe(false);
    expect(await tokens.markUsed('a1b2c3', Date.now())).toBe(true);
  });

  it('upserts and inserts-if-absent as the other stores do', async () => {
    const sessions = new SqlSessionStore(database.db);
    await sessions.setForcedSubject('s', 'abc', 'one');
    await sessions.setForcedSubject('s', 'abc', 'two');
    expect(await sessions.forcedSubject('s', 'abc')).toBe('two');
    expect(await sessions.forcedSubject('S', 'abc')).toBeUndefined();
    const consent = {
      id: 'consent-1',
      clientId: 'abc',
      subject: 's',
      loginSessionId: '',
      grantScope: ['openid'],
      grantAudience: [],
      remember: false,
      rememberFor: 0,
      handledAt: Date.now(),
      document: {},
    };
    expect(await sessions.insertConsent(consent)).toBe(true);
    expect(await sessions.insertConsent({ ...consent, subject: 'other' })).toBe(false);
    expect((await sessions.findConsent('consent-1'))?.subject).toBe('s');
    // Within a transaction too: the refused duplicate leaves the transaction usable.
    await new SqlPersister(database.db).transaction(async (stores) => {
      expect(await stores.sessions.insertConsent(consent)).toBe(false);
      expect(await stores.sessions.insertConsent({ ...consent, id: 'consent-2' })).toBe(true);
    });
    expect((await sessions.findConsent('consent-2'))?.id).toBe('consent-2');
    // A consent for a client that does not exist is refused, not silently dropped.
    await expect(sessions.insertConsent({ ...consent, id: 'consent-3', clientId: 'missing' })).rejects.toThrow();
  });
});

describe('MySQL: a value longer than its key column', () => {
  const mysql = STORES.find((store) => store.name === 'mysql') as (typeof STORES)[number];
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(mysql);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is refused with a 400, never a 500, and nothing is stored', async () => {
    const set = 's'.repeat(KEY_CHARS.id + 1);
    const created = await fetch(`${server.adminUrl}/admin/keys/${set}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ alg: 'ES256', use: 'sig' }),
    });
    expect(created.status).toBe(400);
    expect(((await created.json()) as { error: string }).error).toMatch(/malformed/);
    expect((await fetch(`${server.adminUrl}/admin/keys/${set}`)).status).toBe(404);
    // At the limit it fits.
    const fits = await fetch(`${server.adminUrl}/admin/keys/${set.slice(1)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ alg: 'ES256', use: 'sig' }),
    });
    expect(fits.status).toBe(201);
  });
});
