/**
 * `portcullis janitor` as an operator runs it: spawns the built `dist/cli/main.js` (`npm test` builds
 * first) against a temporary, migrated SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { migrateUp } from '../src/persistence/migrator.js';
import { runCli } from './support/cli.js';

const HOUR = 3_600_000;

describe('portcullis janitor', () => {
  let dir: string;
  let dsn: string;
  let database: Database;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-janitor-'));
    dsn = `sqlite://${join(dir, 'db.sqlite')}`;
    database = openDatabase(dsn);
    await migrateUp(database);
    const now = Date.now();
    await database.db
      .insertInto('clients')
      .values({
        id: 'c1',
        client_name: '',
        owner: '',
        secret_hash: null,
        registration_token_hash: null,
        self_registered: 0,
        document: '{}',
        created_at: now,
        updated_at: now,
      })
      .execute();
    const token = (signature: string, expiresAt: number, active = 1) => ({
      signature,
      kind: 'access_token' as const,
      request_id: signature,
      client_id: 'c1',
      consent_id: null,
      subject: 's',
      scope: '',
      audience: '[]',
      session: '{}',
      requested_at: now - 3 * HOUR,
      expires_at: expiresAt,
      active,
      used_at: null,
      used_count: 0,
    });
    await database.db
      .insertInto('oauth2_tokens')
      .values([
        ...Array.from({ length: 7 }, (_, i) => token(`old-${i}`, now - 2 * HOUR)),
        token('recent', now - 10 * 60_000),
        token('live', now + HOUR),
      ])
      .execute();
    await database.db
      .insertInto('used_jtis')
      .values({ jti_hash: 'j-old', expires_at: now - 2 * HOUR })
      .execute();
  });

  afterAll(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const remaining = async () =>
    (await database.db.selectFrom('oauth2_tokens').select('signature').execute()).map((row) => row.signature).sort();

  it('honours --tokens, --limit, --batch-size and --keep-if-younger, and prints what it deleted', async () => {
    const limited = await runCli([
      'janitor',
      dsn,
      '--tokens',
      '--limit',
      '5',
      '--batch-size',
      '2',
      '--keep-if-younger',
      '1h',
      '--format',
      'json',
    ]);
    expect(limited.stderr).toBe('');
    expect(limited.code).toBe(0);
    expect(JSON.parse(limited.stdout)).toEqual({
      tokens: 5,
      loginSessions: 0,
      consentSessions: 0,
      usedJtis: 0,
      jwtBearerTrusts: 0,
      pushedRequests: 0,
      deviceCodes: 0,
      // Three for the tokens (5 in batches of 2), one for the expired device codes.
      statements: 4,
    });
    expect(await remaining()).toHaveLength(4);

    const rest = await runCli(['janitor', dsn, '--tokens', '--keep-if-younger', '1h']);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/oauth2_tokens\s+2/);
    expect(await remaining()).toEqual(['live', 'recent']);
    expect(await database.db.selectFrom('used_jtis').select('jti_hash').execute()).toHaveLength(1);

    // No target chosen: everything, here with the DSN from the environment.
    const all = await runCli(['janitor', '-e', '--format', 'json'], { DSN: dsn });
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ tokens: 1, usedJtis: 1 });
    expect(await remaining()).toEqual(['live']);
  });

  it('refuses bad flags', async () => {
    const bad = await runCli(['janitor', dsn, '--batch-size', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--batch-size must be a positive integer/);
    const badDuration = await runCli(['janitor', dsn, '--keep-if-younger', 'soon']);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toMatch(/--keep-if-younger/);
    expect(await remaining()).toEqual(['live']);
    const badLifespan = await runCli(['janitor', dsn, '--access-lifespan', 'soon']);
    expect(badLifespan.code).toBe(1);
    expect(badLifespan.stderr).toMatch(/--access-lifespan must be a duration/);
    expect(await remaining()).toEqual(['live']);
  });

  it("decides what is expired with Hydra's --access-lifespan and --refresh-lifespan, and accepts --consent-request-lifespan", async () => {
    // 'live' is an access token issued 3h ago that expires in an hour.
    const longer = await runCli(['janitor', dsn, '--tokens', '--access-lifespan', '4h', '--refresh-lifespan', '1h', '--format', 'json']);
    expect(longer.stderr).toBe('');
    expect(JSON.parse(longer.stdout)).toMatchObject({ tokens: 0 });
    expect(await remaining()).toEqual(['live']);

    const shorter = await runCli(['janitor', dsn, '--access-lifespan', '2h30m', '--consent-request-lifespan', '10m', '--format', 'json']);
    expect(shorter.stderr).toBe('');
    expect(shorter.code).toBe(0);
    expect(JSON.parse(shorter.stdout)).toMatchObject({ tokens: 1 });
    expect(await remaining()).toEqual([]);
  });
});
