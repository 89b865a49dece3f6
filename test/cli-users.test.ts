/**
 * `portcullis users …` and `portcullis ui` as an operator runs them: each case spawns the built
 * `dist/cli/main.js` (`npm test` builds first) against a temporary SQLite file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlUserStore } from '../src/identity/user-store.js';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { migrateUp } from '../src/persistence/migrator.js';
import { CliProcess, type CliResult, killAll, tempDir as makeTempDir, removeTempDirs, runCli } from './support/cli.js';
import { freePort } from './support/server.js';

const tempDir = () => makeTempDir('portcullis-users-');

/** Runs a command to completion, writing `stdin` (if any) to it. */
function run(args: string[], env: Record<string, string>, options: { stdin?: string; cwd?: string } = {}): Promise<CliResult> {
  return runCli(args, env, 20_000, options.cwd ?? tempDir(), options.stdin);
}

afterAll(() => {
  killAll();
  removeTempDirs();
});

describe('portcullis users', () => {
  let dsn: string;
  let env: Record<string, string>;
  let database: Database;

  beforeAll(async () => {
    dsn = `sqlite://${join(tempDir(), 'users.sqlite')}`;
    env = { DSN: dsn };
    database = openDatabase(dsn);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('explains that the database must be migrated first', async () => {
    const result = await run(['users', 'list'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^error: the users table does not exist in sqlite:\/\/.*users\.sqlite: run `portcullis migrate sql up` first$/),
    ]);
    expect((await run(['migrate', 'sql', 'up'], env)).code).toBe(0);
  });

  it('creates a user from a password on standard input, with standard claims, and stores only a scrypt hash', async () => {
    const result = await run(
      [
        'users',
        'create',
        '--username',
        'Alice',
        '--email',
        'Alice@Example.com',
        '--password-stdin',
        '--name',
        'Alice Liddell',
        '--given-name',
        'Alice',
        '--family-name',
        'Liddell',
        '--email-verified',
        '--phone-number',
        '+44 20 7946 0000',
        '--street-address',
        '1 Rabbit Hole',
        '--country',
        'GB',
        '--format',
        'json',
      ],
      env,
      { stdin: 'through the looking glass\n' },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      username: 'alice',
      email: 'alice@example.com',
      claims: {
        name: 'Alice Liddell',
        given_name: 'Alice',
        family_name: 'Liddell',
        phone_number: '+44 20 7946 0000',
        address: { street_address: '1 Rabbit Hole', country: 'GB' },
        email_verified: true,
      },
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(result.stdout).not.toContain('scrypt');

    // The trailing newline of standard input is not part of the password.
    const users = new SqlUserStore(database.db);
    expect((await users.authenticate('alice', 'through the looking glass'))?.id).toBe(created.id);
    expect(await users.authenticate('alice', 'through the looking glass\n')).toBeUndefined();
    const row = await database.db.selectFrom('users').selectAll().where('username', '=', 'alice').executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$scrypt\$N=32768,r=8,p=3\$/);
    expect(JSON.stringify(row)).not.toContain('looking glass');
  });

  it('creates a user from --password and prints a table', async () => {
    const result = await run(['users', 'create', '--username', 'bob', '--password', 'bobs-password-1', '--name', 'Bob'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [header, line] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+USERNAME\s+EMAIL\s+NAME\s+CREATED AT$/);
    expect(line).toMatch(/^[0-9a-f-]{36}\s+bob\s+Bob\s+\d{4}-\d\d-\d\dT/);
    expect((await new SqlUserStore(database.db).authenticate('bob', 'bobs-password-1'))?.username).toBe('bob');
  });

  it('refuses taken usernames and emails, bad input and missing passwords, with one line each', async () => {
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [['--username', 'ALICE', '--password', 'long enough'], undefined, /^error: the username "alice" is taken$/],
      [['--username', 'alice2', '--email', 'alice@example.com', '--password', 'long enough'], undefined, /belongs to another user/],
      [['--username', 'carol', '--password', 'short'], undefined, /^error: the password needs at least 8 characters$/],
      [['--username', 'carol'], undefined, /^error: a password is required: --password-stdin \(or --password\)$/],
      [
        ['--username', 'carol', '--password', 'long enough', '--password-stdin'],
        'long enough',
        /^error: give --password or --password-stdin, not both$/,
      ],
      [['--username', 'carol', '--password-stdin'], '', /^error: the password needs at least 8 characters$/],
      [['--username', 'no spaces', '--password', 'long enough'], undefined, /^error: usernames are 1 to 64 letters/],
      [['--username', 'carol', '--email', 'nope', '--password', 'long enough'], undefined, /^error: "nope" is not an email address$/],
      [['--password', 'long enough'], undefined, /required option '--username <username>' not specified/],
    ];
    for (const [args, stdin, message] of cases) {
      const result = await run(['users', 'create', ...args], env, stdin === undefined ? {} : { stdin });
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr.trimEnd().split('\n')[0], args.join(' ')).toMatch(message);
      expect(result.stdout, args.join(' ')).toBe('');
    }
    expect((await new SqlUserStore(database.db).list()).map((user) => user.username)).toEqual(['alice', 'bob']);
    // Nine CLI processes one after another: slow on a busy machine.
  }, 120_000);

  it('lists users as a table or JSON, never with their password hash', async () => {
    const json = await run(['users', 'list', '--format', 'json'], env);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(listed.map((user) => [user.username, user.email])).toEqual([
      ['alice', 'alice@example.com'],
      ['bob', null],
    ]);
    expect(json.stdout).not.toContain('scrypt');
    const table = await run(['users', 'list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/\salice\s+alice@example\.com\s+Alice Liddell\s/);
  });

  it('deletes by username, email or id, and deletes nobody when one name is unknown', async () => {
    const users = new SqlUserStore(database.db);
    await users.create({ username: 'carol', email: 'carol@example.com', password: 'long enough' });
    const bob = await users.findByLogin('bob');

    const typo = await run(['users', 'delete', 'carol', 'nobody'], env);
    expect(typo.code).toBe(1);
    expect(typo.stderr.trimEnd()).toBe('error: no user "nobody"');
    expect((await users.list()).map((user) => user.username)).toEqual(['alice', 'bob', 'carol']);

    const deleted = await run(['users', 'delete', 'CAROL@example.com', bob?.id as string, '--format', 'json'], env);
    expect(deleted.stderr).toBe('');
    expect(deleted.code).toBe(0);
    expect(JSON.parse(deleted.stdout)).toHaveLength(2);
    expect((await users.list()).map((user) => user.username)).toEqual(['alice']);

    const text = await run(['users', 'delete', 'alice'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^deleted alice \([0-9a-f-]{36}\)\n$/);
    expect(await users.list()).toEqual([]);
  });

  it('reads the dsn from a configuration file (-c)', async () => {
    const dir = tempDir();
    const other = `sqlite://${join(dir, 'other.sqlite')}`;
    const otherDb = openDatabase(other);
    try {
      await migrateUp(otherDb);
      const file = join(dir, 'portcullis.yaml');
      writeFileSync(file, `dsn: ${other}\n`);
      const created = await run(['users', 'create', '-c', file, '--username', 'dana', '--password-stdin'], {}, { stdin: 'dana-password' });
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      expect((await new SqlUserStore(otherDb.db).list()).map((user) => user.username)).toEqual(['dana']);
      expect(await new SqlUserStore(database.db).findByLogin('dana')).toBeUndefined();
    } finally {
      await otherDb.close();
    }
  });
});

describe('portcullis ui', () => {
  it('serves the identity UI (migrating SQLite in development mode) and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dsn = `sqlite://${join(dir, 'ui.sqlite')}`;
    const ui = new CliProcess(['ui', '--dev'], { DSN: dsn, UI_PORT: String(port), UI_HOST: '127.0.0.1', LOG_FORMAT: 'json' }, dir);
    const url = `http://127.0.0.1:${port}`;
    const health = await ui.waitFor(`${url}/health`);
    expect(health.status, ui.stderr).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(ui.stderr).toContain('identity UI ready');
    expect(ui.stderr).toContain(`"url":"${url}"`);
    // What Portcullis' urls.* should point at: the UI's pages, the device flow's included.
    expect(ui.stderr).toContain(`"urls.login":"${url}/login"`);
    expect(ui.stderr).toContain(`"urls.device.verification":"${url}/device","urls.device.success":"${url}/device/done"`);
    // Development mode: a generated secret next to the working directory, and the users table created.
    expect(ui.stderr).toContain('NO SYSTEM SECRET WAS CONFIGURED');
    expect(ui.stderr).toContain('0003-users');
    const page = await fetch(`${url}/login`);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('Nothing to do here');
    expect((await fetch(`${url}/device`)).status).toBe(400);

    ui.child.kill('SIGTERM');
    expect(await ui.exit).toEqual({ code: 0, signal: null });
    expect(ui.stderr).toContain('"msg":"stopped"');
    const database = openDatabase(dsn);
    try {
      expect(await new SqlUserStore(database.db).list()).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('refuses to start outside development mode without a secret', async () => {
    const dir = tempDir();
    const result = await run(['ui'], { DSN: `sqlite://${join(dir, 'ui.sqlite')}`, UI_PORT: String(await freePort()) }, { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd()).toBe(
      'invalid configuration: ui.secrets: required (set UI_SECRETS or SECRETS_SYSTEM to a random string of at least 16 characters, or start with --dev)',
    );
  });
});
