import type { CompiledQuery, Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlClientRepository } from '../src/client/repository.js';
import { type ConsentSession, type LoginSession, SqlSessionStore } from '../src/flow/session-store.js';
import { SqlUserStore, UserConflictError } from '../src/identity/user-store.js';
import { SqlKeyRepository } from '../src/jwk/repository.js';
import { DeviceCodeStore, type DeviceGrant, type DeviceRequest } from '../src/oauth2/device-store.js';
import { UsedJtiStore } from '../src/oauth2/jti-store.js';
import { SqlTokenStore, type StoredToken } from '../src/oauth2/token-store.js';
import type { Logger } from '../src/observability/logger.js';
import type { Database } from '../src/persistence/database.js';
import { SqlPersister } from '../src/persistence/persister.js';
import type { Tables } from '../src/persistence/tables.js';
import { TestClock } from './support/clock.js';
import { storedClient, storedKey } from './support/fixtures.js';
import { openTestDatabase, STORES } from './support/stores.js';

/**
 * The promises each store interface makes, checked on every dialect against a database opened and
 * migrated as the registry does it. One describe block per interface; each names its store's rows
 * with a prefix of its own, so the blocks share one database without seeing each other's rows.
 */

const token = (signature: string, clientId: string, extra: Partial<StoredToken> = {}): StoredToken => ({
  signature,
  kind: 'access_token',
  requestId: `request-${signature}`,
  clientId,
  consentId: null,
  subject: 'alice',
  scope: ['openid', 'offline'],
  audience: ['https://api.example'],
  session: { grantType: 'authorization_code', ext: { tier: 'gold' }, nonce: 'n-1' },
  requestedAt: 1_700_000_000_000,
  expiresAt: 1_700_000_360_000,
  active: true,
  usedAt: null,
  usedCount: 0,
  ...extra,
});

const loginSession = (id: string, subject: string, extra: Partial<LoginSession> = {}): LoginSession => ({
  id,
  subject,
  authenticatedAt: 1_700_000_000_000,
  remember: true,
  expiresAt: 1_700_086_400_000,
  identityProviderSessionId: `idp-${id}`,
  ...extra,
});

const consent = (id: string, clientId: string, subject: string, extra: Partial<ConsentSession> = {}): ConsentSession => ({
  id,
  clientId,
  subject,
  loginSessionId: '',
  grantScope: ['openid'],
  grantAudience: [],
  remember: true,
  rememberFor: 0,
  handledAt: 1_700_000_000_000,
  document: { consent_request: { challenge: id } },
  ...extra,
});

/** The database as the store sees it, recording how many rows each INSERT statement it sends carries. */
function countingInserts(db: Kysely<Tables>): { db: Kysely<Tables>; rowsPerInsert: number[] } {
  const rowsPerInsert: number[] = [];
  // Counted where statements run (the store runs compiled statements, built once per shape): every
  // INSERT into oauth2_tokens, its rows told by its parameters over its column list.
  const executeQuery = (query: CompiledQuery) => {
    const columns = /^insert into [`"]oauth2_tokens[`"] \(([^)]*)\)/i.exec(query.sql)?.[1];
    if (columns !== undefined) rowsPerInsert.push(query.parameters.length / columns.split(',').length);
    return db.executeQuery(query);
  };
  const counted = new Proxy(db, {
    get(target, property) {
      if (property === 'executeQuery') return executeQuery;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: counted, rowsPerInsert };
}

/** Warnings would only be the background sweep failing, which a contract case must notice. */
const deviceRequest = (key: string, clientId: string, extra: Partial<DeviceRequest> = {}) => ({
  deviceCodeSignature: `dev-${key}`,
  userCodeSignature: `user-${key}`,
  requestId: `devreq-${key}`,
  clientId,
  scope: ['openid', 'offline_access'],
  audience: ['https://api.example'],
  requestedAt: 1_000,
  expiresAt: Date.now() + 600_000,
  ...extra,
});

const deviceGrant = (consentId: string): DeviceGrant => ({
  subject: 'device-user',
  scope: ['openid'],
  audience: ['https://api.example'],
  session: { grantType: 'urn:ietf:params:oauth:grant-type:device_code', ext: { team: 'a' }, idTokenClaims: { name: 'Alice' } },
  consentId,
});

const warnings: unknown[] = [];
const recordingLogger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;

describe.each(STORES)('store contracts ($name)', (store) => {
  let database: Database;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ database, close } = await openTestDatabase(store, { migrate: true }));
  });
  afterAll(() => close?.());

  describe('ClientRepository', () => {
    it('creates, reads, updates and deletes; a missing id is not found', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert(storedClient('crud-1', { client_name: 'first', redirect_uris: ['https://a.example/cb'] }));
      const found = await repo.find('crud-1');
      expect(found?.client).toMatchObject({ client_id: 'crud-1', client_name: 'first', redirect_uris: ['https://a.example/cb'] });
      expect(found?.secretHash).toBe('hash');
      expect(await repo.find('crud-missing')).toBeUndefined();

      expect(await repo.update(storedClient('crud-1', { client_name: 'renamed' }))).toBe(true);
      expect((await repo.find('crud-1'))?.client.client_name).toBe('renamed');
      expect(await repo.update(storedClient('crud-missing'))).toBe(false);

      expect(await repo.delete('crud-1')).toBe(true);
      expect(await repo.find('crud-1')).toBeUndefined();
      expect(await repo.delete('crud-1')).toBe(false);
    });

    it('deletes a row standing in for a metadata document client, never a registered client', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert({ ...storedClient('standin-1'), metadataDocument: true });
      await repo.insert(storedClient('standin-2'));
      expect((await repo.find('standin-1'))?.metadataDocument).toBe(true);
      expect(await repo.deleteStandIn('standin-2')).toBe(false);
      expect(await repo.find('standin-2')).toBeDefined();
      expect(await repo.deleteStandIn('standin-1')).toBe(true);
      expect(await repo.find('standin-1')).toBeUndefined();
      expect(await repo.deleteStandIn('standin-1')).toBe(false);
    });

    it('refuses a taken id with a 409 and keeps the first client', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert(storedClient('dup-1', { client_name: 'original' }));
      await expect(repo.insert(storedClient('dup-1', { client_name: 'intruder' }))).rejects.toMatchObject({ status: 409 });
      expect((await repo.find('dup-1'))?.client.client_name).toBe('original');
    });

    it('of two racing inserts of one id, exactly one wins', async () => {
      const repo = new SqlClientRepository(database.db);
      const results = await Promise.allSettled([repo.insert(storedClient('race-1')), repo.insert(storedClient('race-1'))]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toMatchObject([
        { status: 409 },
      ]);
    });

    it('lists by id in pages after a key, filtered by name and owner, with the filtered total', async () => {
      const repo = new SqlClientRepository(database.db);
      // Inserted out of order: the listing sorts by id, not by insertion.
      for (const id of ['page-c', 'page-a', 'page-e', 'page-b', 'page-d']) {
        await repo.insert(storedClient(id, { client_name: 'paged', owner: id < 'page-c' ? 'early' : 'late' }));
      }
      const first = await repo.list({ limit: 2, clientName: 'paged' });
      expect(first.items.map((s) => s.client.client_id)).toEqual(['page-a', 'page-b']);
      expect(first.total).toBe(5);
      const second = await repo.list({ limit: 2, clientName: 'paged', afterId: 'page-b' });
      expect(second.items.map((s) => s.client.client_id)).toEqual(['page-c', 'page-d']);
      const last = await repo.list({ limit: 2, clientName: 'paged', afterId: 'page-d' });
      expect(last.items.map((s) => s.client.client_id)).toEqual(['page-e']);
      const late = await repo.list({ limit: 10, clientName: 'paged', owner: 'late' });
      expect(late.items.map((s) => s.client.client_id)).toEqual(['page-c', 'page-d', 'page-e']);
      expect(late.total).toBe(3);
      expect(await repo.list({ limit: 10, clientName: 'no-such-name' })).toEqual({ items: [], total: 0 });
    });

    it('updates and deletes under a registration condition only while the stored token hash matches', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert(storedClient('cond-1', {}, 'token-v1'));
      expect(await repo.update(storedClient('cond-1', { client_name: 'x' }, 'token-v2'), { registrationTokenHash: 'stale' })).toBe(false);
      expect(await repo.update(storedClient('cond-1', { client_name: 'x' }, 'token-v2'), { registrationTokenHash: 'token-v1' })).toBe(true);
      // The rotation happened once: the old hash no longer matches.
      expect(await repo.update(storedClient('cond-1', { client_name: 'y' }, 'token-v3'), { registrationTokenHash: 'token-v1' })).toBe(
        false,
      );
      expect((await repo.find('cond-1'))?.registrationTokenHash).toBe('token-v2');
      expect(await repo.delete('cond-1', { registrationTokenHash: 'token-v1' })).toBe(false);
      expect(await repo.delete('cond-1', { registrationTokenHash: 'token-v2' })).toBe(true);
    });

    it('of two racing rotations holding the same registration token, exactly one wins', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert(storedClient('rotate-1', {}, 'shared'));
      const condition = { registrationTokenHash: 'shared' };
      const results = await Promise.all([
        repo.update(storedClient('rotate-1', {}, 'left'), condition),
        repo.update(storedClient('rotate-1', {}, 'right'), condition),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await repo.find('rotate-1'))?.registrationTokenHash).toBe(results[0] ? 'left' : 'right');
    });
    it('keeps the self-registered mark: written on insert and by updates that set it, never cleared by an update', async () => {
      const repo = new SqlClientRepository(database.db);
      await repo.insert({ ...storedClient('origin-registered'), selfRegistered: true });
      await repo.insert(storedClient('origin-admin'));
      expect((await repo.find('origin-registered'))?.selfRegistered).toBe(true);
      expect((await repo.find('origin-admin'))?.selfRegistered).toBe(false);
      // An admin rewrite (no mark) leaves the registrant's mark in place.
      expect(await repo.update({ ...storedClient('origin-registered'), selfRegistered: false })).toBe(true);
      expect((await repo.find('origin-registered'))?.selfRegistered).toBe(true);
      expect(await repo.update({ ...storedClient('origin-admin'), selfRegistered: true })).toBe(true);
      expect((await repo.find('origin-admin'))?.selfRegistered).toBe(true);
    });

    it('reads back unreadable rows robustly: a non-object document is skipped (still counted), a too-deep member emptied, both logged', async () => {
      const logged: unknown[] = [];
      const repo = new SqlClientRepository(database.db, { maxDepth: 4, logger: { warn: (...args: unknown[]) => logged.push(args) } });
      const raw = (id: string, document: string) => ({
        id,
        client_name: 'unreadable',
        owner: '',
        secret_hash: null,
        registration_token_hash: null,
        document,
        self_registered: 0,
        created_at: 0,
        updated_at: 0,
      });
      const deep = { client_id: 'read-deep', client_name: 'unreadable', metadata: { a: { b: { c: { d: { e: 1 } } } } }, contacts: ['x'] };
      await database.db
        .insertInto('clients')
        .values([raw('read-broken', '{not json'), raw('read-array', '[1]'), raw('read-deep', JSON.stringify(deep))])
        .execute();
      expect(await repo.find('read-broken')).toBeUndefined();
      expect(await repo.find('read-array')).toBeUndefined();
      const found = await repo.find('read-deep');
      expect(found?.client).toMatchObject({ client_id: 'read-deep', metadata: {}, contacts: ['x'] });
      const page = await repo.list({ limit: 10, clientName: 'unreadable' });
      expect(page.items.map((s) => s.client.client_id)).toEqual(['read-deep']);
      expect(page.total).toBe(3);
      expect(logged.length).toBeGreaterThanOrEqual(3);
    });
  });

  describe('KeyRepository', () => {
    it('lists a set newest first; adds, deletes a key and a whole set; missing ones are not found', async () => {
      const repo = new SqlKeyRepository(database.db);
      expect(await repo.listSet('keys-crud')).toEqual([]);
      await repo.add([storedKey('keys-crud', 'k1'), storedKey('keys-crud', 'k2')]);
      await repo.add([storedKey('keys-crud', 'k3')]);
      await repo.add([storedKey('keys-other', 'k1')]);
      const listed = await repo.listSet('keys-crud');
      expect(listed.map((k) => k.kid)).toEqual(['k3', 'k2', 'k1']);
      expect(listed[0]).toEqual(storedKey('keys-crud', 'k3'));

      expect(await repo.deleteKey('keys-crud', 'k2')).toBe(true);
      expect(await repo.deleteKey('keys-crud', 'k2')).toBe(false);
      expect((await repo.listSet('keys-crud')).map((k) => k.kid)).toEqual(['k3', 'k1']);
      expect(await repo.deleteSet('keys-crud')).toBe(true);
      expect(await repo.deleteSet('keys-crud')).toBe(false);
      expect(await repo.listSet('keys-crud')).toEqual([]);
      // Another set with the same kid was never touched.
      expect((await repo.listSet('keys-other')).map((k) => k.kid)).toEqual(['k1']);
    });

    it('refuses a taken kid with a 409 and adds none of that batch (one transaction)', async () => {
      const repo = new SqlKeyRepository(database.db);
      await repo.add([storedKey('keys-dup', 'taken')]);
      await expect(repo.add([storedKey('keys-dup', 'fresh'), storedKey('keys-dup', 'taken')])).rejects.toMatchObject({ status: 409 });
      expect((await repo.listSet('keys-dup')).map((k) => k.kid)).toEqual(['taken']);
    });

    it('replaces a whole set; a failed replacement leaves the old set', async () => {
      const repo = new SqlKeyRepository(database.db);
      await repo.add([storedKey('keys-replace', 'old-1'), storedKey('keys-replace', 'old-2')]);
      await repo.replaceSet('keys-replace', [storedKey('keys-replace', 'new-1')]);
      expect((await repo.listSet('keys-replace')).map((k) => k.kid)).toEqual(['new-1']);
      // A duplicate kid inside the replacement fails its second insert after the delete ran.
      await expect(repo.replaceSet('keys-replace', [storedKey('keys-replace', 'x'), storedKey('keys-replace', 'x')])).rejects.toMatchObject(
        {
          status: 409,
        },
      );
      expect((await repo.listSet('keys-replace')).map((k) => k.kid)).toEqual(['new-1']);
    });

    it('upserts one key: inserts it, replaces it, and racing upserts of one kid leave exactly one row', async () => {
      const repo = new SqlKeyRepository(database.db);
      await repo.upsert(storedKey('keys-upsert', 'k'));
      await repo.upsert({ ...storedKey('keys-upsert', 'k'), sealedPrivateJwk: 'rotated' });
      expect((await repo.listSet('keys-upsert')).map((k) => k.sealedPrivateJwk)).toEqual(['rotated']);
      const writers = ['a', 'b', 'c', 'd'].map((tag) => repo.upsert({ ...storedKey('keys-upsert', 'k'), sealedPrivateJwk: tag }));
      await Promise.all(writers);
      const after = await repo.listSet('keys-upsert');
      expect(after).toHaveLength(1);
      expect(['a', 'b', 'c', 'd']).toContain(after[0]?.sealedPrivateJwk);
    });
  });

  describe('TokenStore', () => {
    const clientId = 'tokens-client';
    beforeAll(async () => {
      await new SqlClientRepository(database.db).insert(storedClient(clientId));
      await new SqlClientRepository(database.db).insert(storedClient('tokens-other-client'));
    });

    it('stores and finds a token with every field intact; a missing signature is not found', async () => {
      const tokens = new SqlTokenStore(database.db);
      const written = token('tok-crud', clientId, {
        kind: 'refresh_token',
        scope: [],
        audience: [],
        expiresAt: 0,
        session: {
          grantType: 'refresh_token',
          ext: { nested: { a: [1, 2] } },
          idTokenClaims: { name: 'Alice' },
          amr: ['pwd'],
          accessTokenStrategy: 'jwt',
        },
      });
      await tokens.insert([written]);
      expect(await tokens.find('tok-crud')).toEqual(written);
      expect(await tokens.find('tok-missing')).toBeUndefined();
      await tokens.insert([]);
    });

    it('refuses a taken signature', async () => {
      const tokens = new SqlTokenStore(database.db);
      await tokens.insert([token('tok-dup', clientId)]);
      await expect(tokens.insert([token('tok-dup', clientId, { subject: 'mallory' })])).rejects.toThrow();
      expect((await tokens.find('tok-dup'))?.subject).toBe('alice');
    });

    it('group commit: inserts made in one turn are all committed and each caller resolves', async () => {
      const counted = countingInserts(database.db);
      const tokens = new SqlTokenStore(counted.db);
      const batch = Array.from({ length: 40 }, (_, i) => [token(`tok-group-${i}-a`, clientId), token(`tok-group-${i}-b`, clientId)]);
      await Promise.all(batch.map((rows) => tokens.insert(rows)));
      // One statement, one commit for all forty requests.
      expect(counted.rowsPerInsert).toEqual([80]);
      for (const rows of batch) for (const row of rows) expect(await tokens.find(row.signature)).toEqual(row);
    });

    it('group commit: more rows than one INSERT holds still land, in several statements', async () => {
      const counted = countingInserts(database.db);
      const tokens = new SqlTokenStore(counted.db);
      const many = Array.from({ length: 600 }, (_, i) => token(`tok-many-${i}`, clientId));
      await Promise.all(many.map((row) => tokens.insert([row])));
      expect(counted.rowsPerInsert.length).toBeGreaterThan(1);
      expect(Math.max(...counted.rowsPerInsert)).toBeLessThanOrEqual(256);
      expect(counted.rowsPerInsert.reduce((sum, n) => sum + n, 0)).toBe(600);
      const count = await database.db
        .selectFrom('oauth2_tokens')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('signature', 'like', 'tok-many-%')
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(600);
    });

    it('group commit falls back to one insert per request: a bad row fails only its own request', async () => {
      const counted = countingInserts(database.db);
      const tokens = new SqlTokenStore(counted.db);
      await tokens.insert([token('tok-fallback-taken', clientId)]);
      counted.rowsPerInsert.length = 0;
      const results = await Promise.allSettled([
        tokens.insert([token('tok-fallback-1', clientId)]),
        // A taken signature alongside a fresh one: this request fails as a whole, the fresh row with it.
        tokens.insert([token('tok-fallback-2', clientId), token('tok-fallback-taken', clientId, { subject: 'mallory' })]),
        // A client that does not exist violates the foreign key.
        tokens.insert([token('tok-fallback-3', 'no-such-client')]),
        tokens.insert([token('tok-fallback-4', clientId)]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      // The group's statement failed as a whole, then each request was written on its own.
      expect(counted.rowsPerInsert).toEqual([5, 1, 2, 1, 1]);
      expect(await tokens.find('tok-fallback-1')).toBeDefined();
      expect(await tokens.find('tok-fallback-2')).toBeUndefined();
      expect(await tokens.find('tok-fallback-3')).toBeUndefined();
      expect(await tokens.find('tok-fallback-4')).toBeDefined();
      expect((await tokens.find('tok-fallback-taken'))?.subject).toBe('alice');
    });

    it('marks a token used once: a replay or a missing token is false; allowReuse counts another use', async () => {
      const tokens = new SqlTokenStore(database.db);
      await tokens.insert([token('tok-use', clientId, { kind: 'authorization_code' })]);
      expect(await tokens.markUsed('tok-use', 1000)).toBe(true);
      expect(await tokens.markUsed('tok-use', 2000)).toBe(false);
      expect(await tokens.markUsed('tok-use-missing', 2000)).toBe(false);
      expect(await tokens.find('tok-use')).toMatchObject({ active: false, usedAt: 1000, usedCount: 1 });
      expect(await tokens.markUsed('tok-use', 3000, true)).toBe(true);
      // The first use's time stays; only the count grows.
      expect(await tokens.find('tok-use')).toMatchObject({ active: false, usedAt: 1000, usedCount: 2 });
      expect(await tokens.markUsed('tok-use-missing', 3000, true)).toBe(false);
    });

    it('of racing consumers of one code, exactly one wins', async () => {
      const tokens = new SqlTokenStore(database.db);
      await tokens.insert([token('tok-race', clientId, { kind: 'authorization_code' })]);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => tokens.markUsed('tok-race', 1000 + i)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await tokens.find('tok-race'))?.usedCount).toBe(1);
    });

    it('of racing consumers in transactions, exactly one wins', async () => {
      const tokens = new SqlTokenStore(database.db);
      await tokens.insert([token('tok-race-tx', clientId, { kind: 'refresh_token' })]);
      const persister = new SqlPersister(database.db);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => persister.transaction(({ tokens: tx }) => tx.markUsed('tok-race-tx', 1000))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('revokes a whole grant, or only its access tokens, without touching other grants', async () => {
      const tokens = new SqlTokenStore(database.db);
      const grant = (prefix: string) => [
        token(`${prefix}-access`, clientId, { requestId: prefix }),
        token(`${prefix}-refresh`, clientId, { requestId: prefix, kind: 'refresh_token' }),
      ];
      await tokens.insert([...grant('tok-grant-a'), ...grant('tok-grant-b'), ...grant('tok-grant-c')]);
      await tokens.revokeAccessTokens('tok-grant-a');
      expect((await tokens.find('tok-grant-a-access'))?.active).toBe(false);
      expect((await tokens.find('tok-grant-a-refresh'))?.active).toBe(true);
      await tokens.revokeGrant('tok-grant-b');
      expect((await tokens.find('tok-grant-b-access'))?.active).toBe(false);
      expect((await tokens.find('tok-grant-b-refresh'))?.active).toBe(false);
      expect((await tokens.find('tok-grant-c-access'))?.active).toBe(true);
      expect((await tokens.find('tok-grant-c-refresh'))?.active).toBe(true);
      // Revoking again, or a grant that does not exist, changes nothing and does not fail.
      await tokens.revokeGrant('tok-grant-b');
      await tokens.revokeGrant('tok-grant-missing');
    });

    it("deletes a client's access tokens only", async () => {
      const tokens = new SqlTokenStore(database.db);
      await tokens.insert([
        token('tok-del-access', 'tokens-other-client'),
        token('tok-del-refresh', 'tokens-other-client', { kind: 'refresh_token' }),
        token('tok-del-kept', clientId),
      ]);
      await tokens.deleteAccessTokensOfClient('tokens-other-client');
      expect(await tokens.find('tok-del-access')).toBeUndefined();
      expect(await tokens.find('tok-del-refresh')).toBeDefined();
      expect(await tokens.find('tok-del-kept')).toBeDefined();
    });

    it('runs changes atomically: a failing transaction leaves none of its inserts or marks', async () => {
      const tokens = new SqlTokenStore(database.db);
      const persister = new SqlPersister(database.db);
      await tokens.insert([token('tok-tx-old', clientId, { kind: 'refresh_token' })]);
      await expect(
        persister.transaction(async (stores) => {
          const tx = stores.tokens;
          expect(await tx.markUsed('tok-tx-old', 1000)).toBe(true);
          await tx.insert([token('tok-tx-new', clientId)]);
          // Inside the transaction its own writes are visible.
          expect(await tx.find('tok-tx-new')).toBeDefined();
          // Nested transactions join the outer one.
          await stores.transaction(({ tokens: inner }) => inner.insert([token('tok-tx-nested', clientId)]));
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect((await tokens.find('tok-tx-old'))?.active).toBe(true);
      expect(await tokens.find('tok-tx-new')).toBeUndefined();
      expect(await tokens.find('tok-tx-nested')).toBeUndefined();

      const value = await persister.transaction(async ({ tokens: tx }) => {
        await tx.insert([token('tok-tx-kept', clientId)]);
        return 'done';
      });
      expect(value).toBe('done');
      expect(await tokens.find('tok-tx-kept')).toBeDefined();
    });
  });

  describe('SessionStore', () => {
    const clientIds = ['sessions-client-a', 'sessions-client-b'];
    beforeAll(async () => {
      const clients = new SqlClientRepository(database.db);
      for (const id of clientIds) await clients.insert(storedClient(id));
    });

    it('saves, finds, refreshes and deletes login sessions; missing ones are not found', async () => {
      const sessions = new SqlSessionStore(database.db);
      await sessions.saveLoginSession(loginSession('login-1', 'sess-alice'));
      expect(await sessions.findLoginSession('login-1')).toEqual(loginSession('login-1', 'sess-alice'));
      expect(await sessions.findLoginSession('login-missing')).toBeUndefined();

      // Saving again refreshes the lifespan, remember flag and authentication time, not the subject.
      await sessions.saveLoginSession(
        loginSession('login-1', 'sess-mallory', { expiresAt: 1_800_000_000_000, remember: false, authenticatedAt: 1_700_000_500_000 }),
      );
      expect(await sessions.findLoginSession('login-1')).toEqual(
        loginSession('login-1', 'sess-alice', { expiresAt: 1_800_000_000_000, remember: false, authenticatedAt: 1_700_000_500_000 }),
      );

      expect(await sessions.deleteLoginSession('login-1')).toBe(true);
      expect(await sessions.deleteLoginSession('login-1')).toBe(false);
      expect(await sessions.findLoginSession('login-1')).toBeUndefined();
    });

    it("lists and deletes a subject's login sessions only", async () => {
      const sessions = new SqlSessionStore(database.db);
      await sessions.saveLoginSession(loginSession('login-s1', 'sess-bob'));
      await sessions.saveLoginSession(loginSession('login-s2', 'sess-bob'));
      await sessions.saveLoginSession(loginSession('login-s3', 'sess-carol'));
      expect((await sessions.loginSessionsOfSubject('sess-bob')).map((s) => s.id).sort()).toEqual(['login-s1', 'login-s2']);
      expect(await sessions.deleteLoginSessionsOfSubject('sess-bob')).toBe(2);
      expect(await sessions.deleteLoginSessionsOfSubject('sess-bob')).toBe(0);
      expect(await sessions.loginSessionsOfSubject('sess-bob')).toEqual([]);
      expect(await sessions.findLoginSession('login-s3')).toBeDefined();
    });

    it('records a consent once: a replay is false and keeps the first', async () => {
      const sessions = new SqlSessionStore(database.db);
      const first = consent('consent-once', 'sessions-client-a', 'sess-dave', { grantScope: ['openid', 'email'], grantAudience: ['aud'] });
      expect(await sessions.insertConsent(first)).toBe(true);
      expect(await sessions.insertConsent({ ...first, grantScope: ['everything'] })).toBe(false);
      expect(await sessions.findConsent('consent-once')).toEqual(first);
      expect(await sessions.findConsent('consent-missing')).toBeUndefined();
    });

    it('of racing recordings of one consent, exactly one wins', async () => {
      const sessions = new SqlSessionStore(database.db);
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          sessions.insertConsent(consent('consent-race', 'sessions-client-a', 'sess-erin', { rememberFor: i })),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('remembers consents newest first, without unremembered or expired ones', async () => {
      const sessions = new SqlSessionStore(database.db);
      const now = 1_700_001_000_000;
      const subject = 'sess-frank';
      const client = 'sessions-client-a';
      await sessions.insertConsent(consent('rem-forever', client, subject, { handledAt: now - 5_000_000, rememberFor: 0 }));
      await sessions.insertConsent(consent('rem-live', client, subject, { handledAt: now - 1000, rememberFor: 60 }));
      await sessions.insertConsent(consent('rem-expired', client, subject, { handledAt: now - 61_000, rememberFor: 60 }));
      // Expiry is exclusive: a consent whose lifetime ends exactly now is gone.
      await sessions.insertConsent(consent('rem-ends-now', client, subject, { handledAt: now - 60_000, rememberFor: 60 }));
      await sessions.insertConsent(consent('rem-not-remembered', client, subject, { handledAt: now, remember: false }));
      await sessions.insertConsent(consent('rem-other-client', 'sessions-client-b', subject, { handledAt: now }));
      expect((await sessions.rememberedConsents(subject, client, now)).map((c) => c.id)).toEqual(['rem-live', 'rem-forever']);
      expect(await sessions.rememberedConsents('sess-nobody', client, now)).toEqual([]);
    });

    it('lists consents newest first, optionally of one login session, and the clients of a login session', async () => {
      const sessions = new SqlSessionStore(database.db);
      const subject = 'sess-grace';
      await sessions.insertConsent(consent('list-1', 'sessions-client-b', subject, { handledAt: 1, loginSessionId: 'ls-1' }));
      await sessions.insertConsent(consent('list-2', 'sessions-client-a', subject, { handledAt: 3, loginSessionId: 'ls-1' }));
      await sessions.insertConsent(consent('list-3', 'sessions-client-b', subject, { handledAt: 2, loginSessionId: 'ls-2' }));
      await sessions.insertConsent(consent('list-4', 'sessions-client-b', subject, { handledAt: 4, loginSessionId: 'ls-1' }));
      expect((await sessions.listConsents(subject)).map((c) => c.id)).toEqual(['list-4', 'list-2', 'list-3', 'list-1']);
      expect((await sessions.listConsents(subject, 'ls-1')).map((c) => c.id)).toEqual(['list-4', 'list-2', 'list-1']);
      // Distinct and sorted.
      expect(await sessions.clientIdsOfLoginSession('ls-1')).toEqual(['sessions-client-a', 'sessions-client-b']);
      expect(await sessions.clientIdsOfLoginSession('ls-missing')).toEqual([]);
      // Consents made without a login session are never "of" the empty login session.
      await sessions.insertConsent(consent('list-no-login', 'sessions-client-a', subject, { loginSessionId: '' }));
      expect(await sessions.clientIdsOfLoginSession('')).toEqual([]);
    });

    it('deletes consents by subject, by subject and client, or by id, and their tokens with them', async () => {
      const sessions = new SqlSessionStore(database.db);
      const tokens = new SqlTokenStore(database.db);
      const subject = 'sess-heidi';
      await sessions.insertConsent(consent('del-a', 'sessions-client-a', subject));
      await sessions.insertConsent(consent('del-b', 'sessions-client-b', subject));
      await sessions.insertConsent(consent('del-c', 'sessions-client-b', subject));
      await sessions.insertConsent(consent('del-d', 'sessions-client-a', subject));
      await tokens.insert([token('tok-of-del-b', 'sessions-client-b', { consentId: 'del-b' })]);
      expect(await sessions.deleteConsents(subject, 'sessions-client-b')).toBe(2);
      expect(await tokens.find('tok-of-del-b')).toBeUndefined();
      expect((await sessions.listConsents(subject)).map((c) => c.id).sort()).toEqual(['del-a', 'del-d']);

      await tokens.insert([token('tok-of-del-a', 'sessions-client-a', { consentId: 'del-a' })]);
      expect(await sessions.deleteConsentById('del-a')).toBe(true);
      expect(await sessions.deleteConsentById('del-a')).toBe(false);
      expect(await tokens.find('tok-of-del-a')).toBeUndefined();

      expect(await sessions.deleteConsents(subject)).toBe(1);
      expect(await sessions.deleteConsents(subject)).toBe(0);
    });

    it('sets, replaces and reads forced subjects per subject and client', async () => {
      const sessions = new SqlSessionStore(database.db);
      expect(await sessions.forcedSubject('sess-ivan', 'sessions-client-a')).toBeUndefined();
      await sessions.setForcedSubject('sess-ivan', 'sessions-client-a', 'forced-1');
      await sessions.setForcedSubject('sess-ivan', 'sessions-client-b', 'forced-b');
      await sessions.setForcedSubject('sess-ivan', 'sessions-client-a', 'forced-2');
      expect(await sessions.forcedSubject('sess-ivan', 'sessions-client-a')).toBe('forced-2');
      expect(await sessions.forcedSubject('sess-ivan', 'sessions-client-b')).toBe('forced-b');
    });

    it('runs several changes in one transaction: a failure keeps none of them', async () => {
      const sessions = new SqlSessionStore(database.db);
      await expect(
        new SqlPersister(database.db).transaction(async (stores) => {
          const tx = stores.sessions;
          await tx.saveLoginSession(loginSession('login-tx', 'sess-judy'));
          await tx.insertConsent(consent('consent-tx', 'sessions-client-a', 'sess-judy'));
          // Nested transactions join the outer one.
          await stores.transaction(({ sessions: inner }) => inner.setForcedSubject('sess-judy', 'sessions-client-a', 'forced'));
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await sessions.findLoginSession('login-tx')).toBeUndefined();
      expect(await sessions.findConsent('consent-tx')).toBeUndefined();
      expect(await sessions.forcedSubject('sess-judy', 'sessions-client-a')).toBeUndefined();
    });
  });

  describe('DeviceCodeStore', () => {
    const clientId = 'devices-client';
    beforeAll(async () => {
      await new SqlClientRepository(database.db).insert(storedClient(clientId));
    });
    const devices = () => new DeviceCodeStore(database.db);

    it('stores a pending request and finds it by device code signature, user code signature and request id', async () => {
      const store = devices();
      const written = deviceRequest('find', clientId, { requestedAt: 1_234, expiresAt: 9_999_999_999_999 });
      expect(await store.create(written)).toBe(true);
      const expected = { ...written, state: 'pending', grant: undefined, lastPolledAt: 0 };
      expect(await store.findByDeviceCode('dev-find')).toEqual(expected);
      expect(await store.findByUserCode(['user-find'])).toEqual(expected);
      expect(await store.findByRequestId('devreq-find')).toEqual(expected);
      expect(await store.findByDeviceCode('user-find')).toBeUndefined();
      expect(await store.findByUserCode(['dev-find'])).toBeUndefined();
      expect(await store.findByDeviceCode('dev-missing')).toBeUndefined();
    });

    it('finds a user code by any of several signatures, the earliest in the list first', async () => {
      const store = devices();
      await store.create(deviceRequest('sig-older', clientId, { userCodeSignature: 'user-sig-older' }));
      await store.create(deviceRequest('sig-newer', clientId, { userCodeSignature: 'user-sig-newer' }));
      expect((await store.findByUserCode(['user-sig-newer', 'user-sig-older']))?.requestId).toBe('devreq-sig-newer');
      expect((await store.findByUserCode(['user-sig-older', 'user-sig-newer']))?.requestId).toBe('devreq-sig-older');
      expect((await store.findByUserCode(['user-sig-missing', 'user-sig-older']))?.requestId).toBe('devreq-sig-older');
      expect(await store.findByUserCode(['user-sig-missing'])).toBeUndefined();
      expect(await store.findByUserCode([])).toBeUndefined();
    });

    it('refuses a second request with a taken user code signature, and keeps the first', async () => {
      const store = devices();
      expect(await store.create(deviceRequest('taken', clientId))).toBe(true);
      const clash = deviceRequest('taken-2', clientId, { userCodeSignature: 'user-taken' });
      expect(await store.create(clash)).toBe(false);
      expect(await store.findByDeviceCode('dev-taken-2')).toBeUndefined();
      expect((await store.findByUserCode(['user-taken']))?.requestId).toBe('devreq-taken');
    });

    it('grants a pending request with the grant intact, then uses it once; a used row cannot be granted again', async () => {
      const store = devices();
      await store.create(deviceRequest('grant', clientId));
      expect(await store.markUsed('devreq-grant')).toBe(false); // not granted yet
      expect(await store.grant('devreq-grant', deviceGrant('consent-grant'), Date.now())).toBe(true);
      const granted = await store.findByDeviceCode('dev-grant');
      expect(granted).toMatchObject({ state: 'granted', grant: deviceGrant('consent-grant') });
      expect(await store.grant('devreq-grant', deviceGrant('consent-other'), Date.now())).toBe(false);
      expect(await store.deny('devreq-grant')).toBe(false);
      expect((await store.findByDeviceCode('dev-grant'))?.grant?.consentId).toBe('consent-grant');

      expect(await store.markUsed('devreq-grant')).toBe(true);
      expect(await store.markUsed('devreq-grant')).toBe(false);
      expect(await store.grant('devreq-grant', deviceGrant('consent-again'), Date.now())).toBe(false);
      const used = await store.findByDeviceCode('dev-grant');
      expect(used).toMatchObject({ state: 'used', grant: deviceGrant('consent-grant') });
    });

    it('denies a pending request; a denied row cannot be granted, used or denied again', async () => {
      const store = devices();
      await store.create(deviceRequest('deny', clientId));
      expect(await store.deny('devreq-deny')).toBe(true);
      expect(await store.deny('devreq-deny')).toBe(false);
      expect(await store.grant('devreq-deny', deviceGrant('consent-deny'), Date.now())).toBe(false);
      expect(await store.markUsed('devreq-deny')).toBe(false);
      expect(await store.findByDeviceCode('dev-deny')).toMatchObject({ state: 'denied', grant: undefined });
      expect(await store.deny('devreq-missing')).toBe(false);
      expect(await store.grant('devreq-missing', deviceGrant('consent-missing'), Date.now())).toBe(false);
    });

    it('does not grant an expired request', async () => {
      const store = devices();
      await store.create(deviceRequest('expired', clientId, { expiresAt: 5_000 }));
      expect(await store.grant('devreq-expired', deviceGrant('consent-expired'), 5_000)).toBe(false);
      expect((await store.findByDeviceCode('dev-expired'))?.state).toBe('pending');
      expect(await store.grant('devreq-expired', deviceGrant('consent-expired'), 4_999)).toBe(true);
    });

    it('of racing uses of one granted request, exactly one wins; of racing grants, exactly one', async () => {
      const store = devices();
      await store.create(deviceRequest('race', clientId));
      const grants = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.grant('devreq-race', deviceGrant(`consent-race-${i}`), Date.now())),
      );
      expect(grants.filter(Boolean)).toHaveLength(1);
      const winner = grants.indexOf(true);
      expect((await store.findByDeviceCode('dev-race'))?.grant?.consentId).toBe(`consent-race-${winner}`);
      const uses = await Promise.all(Array.from({ length: 6 }, () => devices().markUsed('devreq-race')));
      expect(uses.filter(Boolean)).toHaveLength(1);
      expect((await store.findByDeviceCode('dev-race'))?.state).toBe('used');
    });

    it('records a poll only when the previous one was at least the interval before', async () => {
      const store = devices();
      await store.create(deviceRequest('poll', clientId));
      expect(await store.recordPoll('dev-poll', 100_000, 5_000)).toBe(true);
      expect((await store.findByDeviceCode('dev-poll'))?.lastPolledAt).toBe(100_000);
      expect(await store.recordPoll('dev-poll', 104_999, 5_000)).toBe(false);
      expect((await store.findByDeviceCode('dev-poll'))?.lastPolledAt).toBe(100_000);
      expect(await store.recordPoll('dev-poll', 105_000, 5_000)).toBe(true);
      expect((await store.findByDeviceCode('dev-poll'))?.lastPolledAt).toBe(105_000);
      expect(await store.recordPoll('dev-missing', 200_000, 5_000)).toBe(false);
      const racing = await Promise.all(Array.from({ length: 6 }, () => devices().recordPoll('dev-poll', 200_000, 5_000)));
      expect(racing.filter(Boolean)).toHaveLength(1);
    });

    it('deletes expired requests in batches of the given size, and never an unexpired one', async () => {
      const store = devices();
      for (let i = 0; i < 5; i++) await store.create(deviceRequest(`old-${i}`, clientId, { expiresAt: 10 + i }));
      await store.create(deviceRequest('fresh', clientId, { expiresAt: 50 }));
      expect(await store.deleteExpired(50, 2)).toBe(2);
      expect(await store.deleteExpired(50, 2)).toBe(2);
      expect(await store.deleteExpired(50, 2)).toBe(1);
      expect(await store.deleteExpired(50, 2)).toBe(0);
      for (let i = 0; i < 5; i++) expect(await store.findByDeviceCode(`dev-old-${i}`)).toBeUndefined();
      expect(await store.findByDeviceCode('dev-fresh')).toBeDefined();
      expect(await store.findByDeviceCode('dev-find')).toBeDefined();
    });
  });

  describe('UsedJtiStore', () => {
    const farFuture = () => Date.now() + 3_600_000;

    it('records an id once: a second use within its lifetime is a replay', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      expect(await jtis.use('client-a', 'jti-once', farFuture())).toBe(true);
      expect(await jtis.use('client-a', 'jti-once', farFuture())).toBe(false);
    });

    it('keeps namespaces apart: one id may be used once in each', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      expect(await jtis.use('client-a', 'jti-shared', farFuture())).toBe(true);
      expect(await jtis.use('client-b', 'jti-shared', farFuture())).toBe(true);
    });

    it('allows an id again once its earlier use has expired', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      expect(await jtis.use('client-a', 'jti-expiring', Date.now() - 1)).toBe(true);
      expect(await jtis.use('client-a', 'jti-expiring', farFuture())).toBe(true);
      expect(await jtis.use('client-a', 'jti-expiring', farFuture())).toBe(false);
    });

    it('stores only a hash, never the id', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      await jtis.use('client-a', 'jti-secret-value', farFuture());
      const rows = await database.db.selectFrom('used_jtis').select('jti_hash').execute();
      expect(rows.every((row) => /^[0-9a-f]{64}$/.test(row.jti_hash))).toBe(true);
    });

    it('of racing uses of one id, exactly one wins', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      const results = await Promise.all(Array.from({ length: 6 }, () => jtis.use('client-a', 'jti-race', farFuture())));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("tells expired ids by the store's clock, and takes an expired id over in place", async () => {
      const clock = new TestClock();
      const jtis = new UsedJtiStore(database.db, recordingLogger, clock);
      expect(await jtis.use('client-a', 'jti-clocked', clock.now() + 60_000)).toBe(true);
      expect(await jtis.use('client-a', 'jti-clocked', clock.now() + 60_000)).toBe(false);
      clock.advance(60_000);
      // Expired by the clock (not by real time): used again, and the row now lives until the new expiry.
      expect(await jtis.use('client-a', 'jti-clocked', clock.now() + 60_000)).toBe(true);
      expect(await jtis.use('client-a', 'jti-clocked', clock.now() + 60_000)).toBe(false);
      clock.advance(59_000);
      expect(await jtis.use('client-a', 'jti-clocked', clock.now() + 60_000)).toBe(false);
      // A store on the real clock, as another node would be, sees the taken-over row as live.
      expect(await new UsedJtiStore(database.db, recordingLogger).use('client-a', 'jti-clocked', farFuture())).toBe(false);
    });

    it('of racing uses of an expired id, exactly one takes it over', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      expect(await jtis.use('client-a', 'jti-race-expired', Date.now() - 1)).toBe(true);
      const results = await Promise.all(Array.from({ length: 6 }, () => jtis.use('client-a', 'jti-race-expired', farFuture())));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('group commit: uses made in one turn each get their own verdict (new, live, expired, repeated in the group)', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      expect(await jtis.use('client-a', 'jti-group-live', farFuture())).toBe(true);
      expect(await jtis.use('client-a', 'jti-group-expired', Date.now() - 1)).toBe(true);
      const ids = ['jti-group-new-1', 'jti-group-live', 'jti-group-twice', 'jti-group-expired', 'jti-group-twice', 'jti-group-new-2'];
      const verdicts = await Promise.all(ids.map((id) => jtis.use('client-a', id, farFuture())));
      expect(verdicts).toEqual([true, false, true, true, false, true]);
      const again = await Promise.all(ids.map((id) => jtis.use('client-a', id, farFuture())));
      expect(again.every((verdict) => verdict === false)).toBe(true);
    });

    it('takes an expired id over inside a unit of work, and refuses a live one there without aborting it', async () => {
      const persister = new SqlPersister(database.db);
      expect(await persister.jtis.use('client-a', 'jti-tx-expired', Date.now() - 1)).toBe(true);
      expect(await persister.jtis.use('client-a', 'jti-tx-live', farFuture())).toBe(true);
      const outcome = await persister.transaction(async (stores) => [
        await stores.jtis.use('client-a', 'jti-tx-live', farFuture()),
        await stores.jtis.use('client-a', 'jti-tx-expired', farFuture()),
        await stores.jtis.use('client-a', 'jti-tx-new', farFuture()),
      ]);
      expect(outcome).toEqual([false, true, true]);
      expect(await persister.jtis.use('client-a', 'jti-tx-expired', farFuture())).toBe(false);
      expect(await persister.jtis.use('client-a', 'jti-tx-new', farFuture())).toBe(false);
    });

    it('sweeps expired rows in the background without failing', async () => {
      const jtis = new UsedJtiStore(database.db, recordingLogger);
      await database.db.insertInto('used_jtis').values({ jti_hash: 'swept-by-the-store', expires_at: 1 }).execute();
      await jtis.use('client-a', 'jti-sweeper', farFuture());
      await expect
        .poll(async () => database.db.selectFrom('used_jtis').select('jti_hash').where('jti_hash', '=', 'swept-by-the-store').execute())
        .toEqual([]);
      expect(warnings).toEqual([]);
    });
  });

  describe('Persister', () => {
    it('runs a unit of work across every store on one transaction: a failure keeps none of it', async () => {
      const persister = new SqlPersister(database.db);
      await expect(
        persister.transaction(async (stores) => {
          await stores.clients.insert(storedClient('persister-client'));
          await stores.tokens.insert([token('tok-persister', 'persister-client')]);
          await stores.sessions.saveLoginSession(loginSession('login-persister', 'persister-subject'));
          expect(await stores.jtis.use('persister', 'jti-persister', Date.now() + 3_600_000)).toBe(true);
          // Each store sees the others' writes: they share the transaction.
          expect(await stores.tokens.find('tok-persister')).toBeDefined();
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await persister.clients.find('persister-client')).toBeUndefined();
      expect(await persister.tokens.find('tok-persister')).toBeUndefined();
      expect(await persister.sessions.findLoginSession('login-persister')).toBeUndefined();
      expect(await persister.jtis.use('persister', 'jti-persister', Date.now() + 3_600_000)).toBe(true);
    });

    it("commits every store's writes together and returns the work's value", async () => {
      const persister = new SqlPersister(database.db);
      const value = await persister.transaction(async (stores) => {
        await stores.clients.insert(storedClient('persister-kept'));
        await stores.tokens.insert([token('tok-persister-kept', 'persister-kept')]);
        await stores.sessions.insertConsent(consent('consent-persister', 'persister-kept', 'persister-subject'));
        return 'done';
      });
      expect(value).toBe('done');
      expect(await persister.clients.find('persister-kept')).toBeDefined();
      expect(await persister.tokens.find('tok-persister-kept')).toBeDefined();
      expect(await persister.sessions.findConsent('consent-persister')).toBeDefined();
    });
    it('a replayed id within a unit of work answers false and leaves the transaction usable', async () => {
      const persister = new SqlPersister(database.db);
      const expiresAt = Date.now() + 3_600_000;
      expect(await persister.jtis.use('persister', 'jti-replayed', expiresAt)).toBe(true);
      await persister.transaction(async (stores) => {
        expect(await stores.jtis.use('persister', 'jti-replayed', expiresAt)).toBe(false);
        await stores.sessions.saveLoginSession(loginSession('login-after-replay', 'persister-subject'));
      });
      expect(await persister.sessions.findLoginSession('login-after-replay')).toBeDefined();
    });
  });

  describe('UserStore', () => {
    // A cheap scrypt cost keeps the cases fast; stored hashes verify with the parameters they carry.
    const users = () => new SqlUserStore(database.db, { N: 1024, r: 8, p: 1 });

    it('creates, finds by id and by login (case-insensitive), and deletes; missing users are not found', async () => {
      const store = users();
      const created = await store.create({
        username: 'User.Crud',
        email: 'Crud@Example.COM',
        password: 'correct horse',
        claims: { name: 'Crud' },
      });
      expect(created).toMatchObject({ username: 'user.crud', email: 'crud@example.com', claims: { name: 'Crud' } });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await store.findById(created.id)).toEqual(created);
      expect((await store.findByLogin('USER.CRUD'))?.id).toBe(created.id);
      expect((await store.findByLogin('crud@EXAMPLE.com'))?.id).toBe(created.id);
      expect(await store.findByLogin('nobody')).toBeUndefined();
      expect(await store.findByLogin('')).toBeUndefined();
      expect(await store.findById('00000000-0000-0000-0000-000000000000')).toBeUndefined();

      expect(await store.delete(created.id)).toBe(true);
      expect(await store.delete(created.id)).toBe(false);
      expect(await store.findById(created.id)).toBeUndefined();
    });

    it('refuses a taken username or email, whatever the case, and keeps the first person', async () => {
      const store = users();
      const first = await store.create({ username: 'taken', email: 'taken@example.com', password: 'password-1' });
      await expect(store.create({ username: 'TAKEN', password: 'password-2' })).rejects.toBeInstanceOf(UserConflictError);
      await expect(store.create({ username: 'fresh', email: 'TAKEN@example.com', password: 'password-2' })).rejects.toThrow(
        /email "taken@example.com" belongs to another user/,
      );
      expect(await store.findByLogin('fresh')).toBeUndefined();
      expect((await store.authenticate('taken', 'password-1'))?.id).toBe(first.id);
    });

    it('of racing creations of one username, exactly one wins', async () => {
      const store = users();
      const results = await Promise.allSettled(
        Array.from({ length: 3 }, (_, i) => store.create({ username: 'racer', password: `password-${i}` })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(UserConflictError);
    });

    it('authenticates by username or email with the right password only', async () => {
      const store = users();
      const person = await store.create({ username: 'auth-user', email: 'auth@example.com', password: 'right password' });
      expect((await store.authenticate('Auth-User', 'right password'))?.id).toBe(person.id);
      expect((await store.authenticate('auth@example.com', 'right password'))?.id).toBe(person.id);
      expect(await store.authenticate('auth-user', 'wrong password')).toBeUndefined();
      expect(await store.authenticate('no-such-user', 'right password')).toBeUndefined();
    });

    it('lists everyone by username', async () => {
      const store = users();
      for (const username of ['zz-list', 'aa-list', 'mm-list']) await store.create({ username, password: 'password-list' });
      const listed = (await store.list()).map((u) => u.username).filter((name) => name.endsWith('-list'));
      expect(listed).toEqual(['aa-list', 'mm-list', 'zz-list']);
    });
  });
});
