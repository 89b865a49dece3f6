import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OAuth2Client } from '../src/client/model.js';
import { SqlClientRepository, type StoredClient } from '../src/client/repository.js';
import { SqlKeyRepository, type StoredKey } from '../src/jwk/repository.js';
import type { Database } from '../src/persistence/database.js';
import { MIGRATIONS } from '../src/persistence/migrations/index.js';
import { migrateDown, migrateUp, migrationStatus, pendingMigrations } from '../src/persistence/migrator.js';
import { storedClient, storedKey } from './support/fixtures.js';
import { openTestDatabase, STORES } from './support/stores.js';

const client = (id: string, extra: Partial<OAuth2Client> = {}): StoredClient => storedClient(id, extra);
const key = (setId: string, kid: string): StoredKey => storedKey(setId, kid, { sealedPrivateJwk: null, createdAt: Date.now() });

describe.each(STORES)('persistence ($name)', (store) => {
  let database: Database;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ database, close } = await openTestDatabase(store));
  });
  afterAll(() => close?.());

  it('migrates up, reports status, migrates down and up again', async () => {
    expect(await pendingMigrations(database)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await migrateUp(database)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await migrateUp(database)).toEqual([]);
    expect((await migrationStatus(database)).every((m) => m.applied && m.appliedAt instanceof Date)).toBe(true);
    const newest = MIGRATIONS[MIGRATIONS.length - 1]?.name;
    expect(await migrateDown(database)).toEqual([newest]);
    expect(await pendingMigrations(database)).toEqual([newest]);
    await migrateUp(database);
    expect(await pendingMigrations(database)).toEqual([]);
  });

  it('stores clients behind a narrow repository', async () => {
    const repo = new SqlClientRepository(database.db);
    await repo.insert(client('c-1', { client_name: 'one', owner: 'o' }));
    await repo.insert(client('c-2', { client_name: 'two', owner: 'o' }));
    await repo.insert(client('c-3', { client_name: 'one', owner: 'p' }));
    await expect(repo.insert(client('c-1'))).rejects.toMatchObject({ status: 409 });
    expect((await repo.find('c-1'))?.client.client_name).toBe('one');
    expect(await repo.find('missing')).toBeUndefined();

    const page = await repo.list({ limit: 2 });
    expect(page.items.map((s) => s.client.client_id)).toEqual(['c-1', 'c-2']);
    expect(page.total).toBe(3);
    expect((await repo.list({ limit: 2, afterId: 'c-2' })).items.map((s) => s.client.client_id)).toEqual(['c-3']);
    const filtered = await repo.list({ limit: 10, clientName: 'one', owner: 'o' });
    expect(filtered.items.map((s) => s.client.client_id)).toEqual(['c-1']);
    expect(filtered.total).toBe(1);

    expect(await repo.update(client('c-2', { client_name: 'deux' }))).toBe(true);
    expect((await repo.find('c-2'))?.client.client_name).toBe('deux');
    expect(await repo.update(client('missing'))).toBe(false);
    expect(await repo.delete('c-3')).toBe(true);
    expect(await repo.delete('c-3')).toBe(false);
  });

  it('changes key sets atomically: a failed replacement leaves the old set', async () => {
    const repo = new SqlKeyRepository(database.db);
    await repo.add([key('s', 'a'), key('s', 'b')]);
    expect((await repo.listSet('s')).map((k) => k.kid)).toEqual(['b', 'a']); // newest first
    await expect(repo.add([key('s', 'c'), key('s', 'a')])).rejects.toMatchObject({ status: 409 });
    expect((await repo.listSet('s')).map((k) => k.kid)).toEqual(['b', 'a']); // c rolled back with the failing a

    await expect(repo.replaceSet('s', [key('s', 'x'), key('s', 'x')])).rejects.toThrow();
    expect((await repo.listSet('s')).map((k) => k.kid)).toEqual(['b', 'a']);
    await repo.replaceSet('s', [key('s', 'x'), key('s', 'y')]);
    expect((await repo.listSet('s')).map((k) => k.kid)).toEqual(['y', 'x']);

    await repo.upsert({ ...key('s', 'x'), publicJwk: JSON.stringify({ kty: 'EC', kid: 'x', v: 2 }) });
    const sets = await repo.listSet('s');
    expect(sets.map((k) => k.kid)).toEqual(['x', 'y']);
    expect(JSON.parse(sets[0]?.publicJwk as string).v).toBe(2);
    expect(await repo.deleteKey('s', 'y')).toBe(true);
    expect(await repo.deleteKey('s', 'y')).toBe(false);
    expect(await repo.deleteSet('s')).toBe(true);
    expect(await repo.listSet('s')).toEqual([]);
  });
});
