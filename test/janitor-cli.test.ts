/**
 * `portcullis janitor` as an operator runs it: spawns the built `dist/cli/main.js` (`npm test` builds
 * first) against a temporary, migrated SQLite file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envName, leaves } from '../src/config/schema.js';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { migrateUp } from '../src/persistence/migrator.js';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const HOUR = 3_600_000;

/** The runner's environment without anything that would configure Portcullis behind the test's back. */
const BASE_ENV: Record<string, string> = (() => {
  const configVars = new Set(leaves().map(([key]) => envName(key)));
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !configVars.has(entry[0])),
  );
})();

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

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
    const limited = await run([
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
    expect(JSON.parse(limited.stdout)).toEqual({ tokens: 5, loginSessions: 0, consentSessions: 0, usedJtis: 0, statements: 3 });
    expect(await remaining()).toHaveLength(4);

    const rest = await run(['janitor', dsn, '--tokens', '--keep-if-younger', '1h']);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/oauth2_tokens\s+2/);
    expect(await remaining()).toEqual(['live', 'recent']);
    expect(await database.db.selectFrom('used_jtis').select('jti_hash').execute()).toHaveLength(1);

    // No target chosen: everything, here with the DSN from the environment.
    const all = await run(['janitor', '-e', '--format', 'json'], { DSN: dsn });
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ tokens: 1, usedJtis: 1 });
    expect(await remaining()).toEqual(['live']);
  });

  it('refuses bad flags', async () => {
    const bad = await run(['janitor', dsn, '--batch-size', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--batch-size must be a positive integer/);
    const badDuration = await run(['janitor', dsn, '--keep-if-younger', 'soon']);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toMatch(/--keep-if-younger/);
    expect(await remaining()).toEqual(['live']);
    const badLifespan = await run(['janitor', dsn, '--access-lifespan', 'soon']);
    expect(badLifespan.code).toBe(1);
    expect(badLifespan.stderr).toMatch(/--access-lifespan must be a duration/);
    expect(await remaining()).toEqual(['live']);
  });

  it("decides what is expired with Hydra's --access-lifespan and --refresh-lifespan, and accepts --consent-request-lifespan", async () => {
    // 'live' is an access token issued 3h ago that expires in an hour.
    const longer = await run(['janitor', dsn, '--tokens', '--access-lifespan', '4h', '--refresh-lifespan', '1h', '--format', 'json']);
    expect(longer.stderr).toBe('');
    expect(JSON.parse(longer.stdout)).toMatchObject({ tokens: 0 });
    expect(await remaining()).toEqual(['live']);

    const shorter = await run(['janitor', dsn, '--access-lifespan', '2h30m', '--consent-request-lifespan', '10m', '--format', 'json']);
    expect(shorter.stderr).toBe('');
    expect(shorter.code).toBe(0);
    expect(JSON.parse(shorter.stdout)).toMatchObject({ tokens: 1 });
    expect(await remaining()).toEqual([]);
  });
});
