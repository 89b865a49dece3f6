/**
 * The CLI as an operator runs it: every case spawns the built `dist/cli/main.js` as a real process
 * (`npm test` builds first). One development-mode server is shared by the admin-API commands.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CliProcess,
  type CliResult,
  killAll,
  loopbackServeEnv,
  tempDir as makeTempDir,
  removeTempDirs,
  runCli,
  sleep,
} from './support/cli.js';
import { freePort } from './support/server.js';
import { openSql, POSTGRES_URL, STORES } from './support/stores.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const SECRET = 'cli-test-secret-0123456789';

const tempDir = () => makeTempDir('portcullis-cli-');

interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
}
type Result = CliResult;

function run(args: string[], options: RunOptions = {}): Promise<Result> {
  return runCli(args, options.env ?? {}, 15_000, options.cwd ?? tempDir());
}

async function runJson<T = Record<string, unknown>>(args: string[], options: RunOptions = {}): Promise<T> {
  const result = await run([...args, '--format', 'json'], options);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** The lines of a failed command's stderr; the CLI promises exactly one. */
const stderrLines = (result: Result) => result.stderr.trimEnd().split('\n');

/** A running `portcullis serve` process. */
class Server extends CliProcess {
  constructor(
    args: string[],
    options: RunOptions,
    readonly publicUrl: string,
    readonly adminUrl: string,
  ) {
    // In a fresh temporary directory unless told where, so that it writes nothing into the repository.
    super(args, options.env ?? {}, options.cwd ?? tempDir());
  }

  ready(): Promise<Response> {
    return this.waitFor(`${this.adminUrl}/health/ready`);
  }

  /** Resolves once the log contains `pattern`. */
  async waitForLog(pattern: RegExp, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stderr)) {
      if (Date.now() > deadline) throw new Error(`log never matched ${pattern}:\n${this.stderr}`);
      if (this.exited) throw new Error(`server exited before logging ${pattern}:\n${this.stderr}`);
      await sleep(25);
    }
  }

  /** Sends a signal and waits for the exit, at most `timeoutMs`. */
  stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) this.child.kill(signal);
    return this.exited ? this.exit : this.waitForExit(timeoutMs);
  }

  /** Waits for the process to end by itself, at most `timeoutMs`. */
  async waitForExit(timeoutMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`server did not exit within ${timeoutMs}ms:\n${this.stderr}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

interface ServeOptions {
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  dev?: boolean;
}

/** `serve all` on two free loopback ports. */
async function serve(options: ServeOptions = {}): Promise<Server> {
  const ports = { public: await freePort(), admin: await freePort() };
  return new Server(
    ['serve', 'all', ...(options.dev === false ? [] : ['--dev']), ...(options.args ?? [])],
    { cwd: options.cwd ?? tempDir(), env: { DSN: 'memory', ...loopbackServeEnv(ports), ...options.env } },
    `http://127.0.0.1:${ports.public}`,
    `http://127.0.0.1:${ports.admin}`,
  );
}

afterAll(() => {
  killAll();
  removeTempDirs();
});

describe('help', () => {
  const COMMANDS = [
    [],
    ['serve'],
    ['migrate'],
    ['migrate', 'sql'],
    ['create', 'client'],
    ['create', 'oauth2-client'],
    ['create', 'jwk'],
    ['get', 'client'],
    ['get', 'jwk'],
    ['list', 'clients'],
    ['update', 'client'],
    ['delete', 'client'],
    ['delete', 'jwk'],
    ['version'],
  ];

  it('answers --help for every command and subcommand with exit code 0', async () => {
    const results = await Promise.all(COMMANDS.map((command) => run([...command, '--help'])));
    results.forEach((result, i) => {
      const command = COMMANDS[i] as string[];
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stderr, command.join(' ')).toBe('');
      // Aliases print the help of the command they stand for.
      const name = command.map((word) => (word === 'oauth2-client' ? 'client' : word));
      expect(result.stdout, command.join(' ')).toMatch(
        new RegExp(`^Usage: portcullis${name.map((word) => ` ${word}`).join('')}(\\|\\S+)? `),
      );
    });
    const help = (command: string) => results[COMMANDS.findIndex((c) => c.join(' ') === command)]?.stdout ?? '';
    expect(help('serve')).toContain('--dev');
    expect(help('serve')).toContain('--config <file>');
    expect(help('migrate sql')).toMatch(/up, down or status/);
    for (const flag of ['--name', '--grant-type', '--redirect-uri', '--scope', '--endpoint', '--format']) {
      expect(help('create client')).toContain(flag);
      expect(help('update client')).toContain(flag);
    }
    expect(help('create jwk')).toContain('--alg');
    expect(help('list clients')).toContain('--page-size');
  });

  it('prints the package version', async () => {
    const [version, flag] = await Promise.all([run(['version']), run(['--version'])]);
    expect(version).toEqual({ code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
    expect(flag).toEqual({ code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  });
});

describe('admin API commands against a running server', () => {
  let server: Server;
  let endpoint: string[];
  const admin = (path: string, init?: RequestInit) => fetch(`${server.adminUrl}${path}`, init);

  beforeAll(async () => {
    server = await serve({ env: { SECRETS_SYSTEM: SECRET } });
    endpoint = ['--endpoint', server.adminUrl];
    await server.ready();
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('creates, shows, lists, updates and deletes a client', async () => {
    const created = await runJson([
      'create',
      'client',
      ...endpoint,
      '--name',
      'cli app',
      '--grant-type',
      'authorization_code,refresh_token',
      '--response-type',
      'code',
      '--redirect-uri',
      'https://app.example/cb',
      '--redirect-uri',
      'https://app.example/cb2',
      '--scope',
      'openid offline',
      '--scope',
      'email',
      '--audience',
      'https://api.example',
    ]);
    const id = created.client_id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created).toMatchObject({
      client_name: 'cli app',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'],
      scope: 'openid offline email',
      audience: ['https://api.example'],
    });
    expect(created.client_secret).toMatch(/^\S{26}$/);

    // The server holds what the CLI printed.
    const stored = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ client_id: id, client_name: 'cli app', scope: 'openid offline email' });

    const shown = await runJson(['get', 'client', id, ...endpoint]);
    expect(shown).toEqual(stored);

    // As Hydra's, a list is a page: the items, the next page's token (empty on the last) and is_last_page.
    const listed = await runJson<{ items: Array<Record<string, unknown>>; next_page_token: string; is_last_page: boolean }>([
      'list',
      'clients',
      ...endpoint,
    ]);
    expect(listed.items.map((client) => client.client_id)).toContain(id);
    expect(listed).toMatchObject({ next_page_token: '', is_last_page: true });

    const updated = await runJson(['update', 'client', id, ...endpoint, '--name', 'new']);
    expect(updated.client_name).toBe('new');
    const afterUpdate = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, unknown>;
    // Only the name changed: everything not given on the command line kept its value.
    const { client_name: oldName, updated_at: _oldTime, ...before } = stored;
    const { client_name: newName, updated_at: _newTime, ...after } = afterUpdate;
    expect([oldName, newName]).toEqual(['cli app', 'new']);
    expect(after).toEqual(before);

    // A list flag replaces that list and nothing else.
    await runJson(['update', 'client', id, ...endpoint, '--redirect-uri', 'https://other.example/cb']);
    const afterList = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, unknown>;
    expect(afterList).toMatchObject({
      client_name: 'new',
      redirect_uris: ['https://other.example/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid offline email',
    });

    const deleted = await run(['delete', 'client', id, ...endpoint]);
    expect(deleted).toEqual({ code: 0, stdout: `${id}\n`, stderr: '' });
    expect((await admin(`/admin/clients/${id}`)).status).toBe(404);
  });

  it('sets and unsets the client metadata Hydra lacks: PAR required, DPoP-bound tokens, the FAPI 2.0 profile', async () => {
    const created = await runJson([
      'create',
      'client',
      ...endpoint,
      '--token-endpoint-auth-method',
      'private_key_jwt',
      '--jwks-uri',
      'https://app.example/jwks.json',
      '--redirect-uri',
      'https://app.example/cb',
      '--require-pushed-authorization-requests',
      '--dpop-bound-access-tokens',
      '--fapi2-security-profile',
    ]);
    const id = created.client_id as string;
    const flags = { require_pushed_authorization_requests: true, dpop_bound_access_tokens: true, fapi2_security_profile: true };
    expect(created).toMatchObject(flags);
    expect(await (await admin(`/admin/clients/${id}`)).json()).toMatchObject(flags);

    // update keeps them unless told; the --no-… twins turn them off (false, or absent as the server shows unset ones).
    const kept = await runJson(['update', 'client', id, ...endpoint, '--name', 'kept']);
    expect(kept).toMatchObject(flags);
    const unset = await runJson([
      'update',
      'client',
      id,
      ...endpoint,
      '--no-require-pushed-authorization-requests',
      '--no-dpop-bound-access-tokens',
      '--no-fapi2-security-profile',
    ]);
    const stored = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, unknown>;
    for (const shown of [unset, stored]) {
      expect(shown.require_pushed_authorization_requests).toBe(false);
      expect(shown).not.toHaveProperty('dpop_bound_access_tokens');
      expect(shown).not.toHaveProperty('fapi2_security_profile');
    }
    // Without the flags, create sends none of the fields.
    const plain = await runJson(['create', 'client', ...endpoint, '--redirect-uri', 'https://app.example/cb']);
    expect(plain.require_pushed_authorization_requests).toBe(false);
    expect(plain).not.toHaveProperty('dpop_bound_access_tokens');
    // The server still checks what the flags ask for: the profile needs private_key_jwt.
    const refused = await run(['create', 'client', ...endpoint, '--fapi2-security-profile']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('fapi2_security_profile');
    await run(['delete', 'client', id, plain.client_id as string, ...endpoint]);
  });

  it("prints Hydra's tables by default: one client as name and value lines, a list as rows under a header", async () => {
    const created = await run([
      'create',
      'client',
      ...endpoint,
      '--name',
      'tabled',
      '--scope',
      'openid',
      '--grant-type',
      'authorization_code,refresh_token',
    ]);
    expect(created.code).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.split(/\s{2,}/)[0])).toEqual([
      'CLIENT ID',
      'CLIENT SECRET',
      'GRANT TYPES',
      'RESPONSE TYPES',
      'SCOPE',
      'AUDIENCE',
      'REDIRECT URIS',
    ]);
    const id = /^CLIENT ID\s+(\S+)$/.exec(lines[0] ?? '')?.[1] as string;
    const stored = (await (await admin(`/admin/clients/${id}`)).json()) as Record<string, unknown>;
    expect(stored.client_name).toBe('tabled');
    expect(lines[1]).toMatch(/^CLIENT SECRET\s+\S{26}$/);
    expect(lines[2]).toMatch(/^GRANT TYPES\s+authorization_code, refresh_token$/);
    expect(lines[4]).toMatch(/^SCOPE\s+openid$/);

    const got = await run(['get', 'client', id, ...endpoint]);
    expect(got.code).toBe(0);
    expect(got.stdout.split('\n')[0]).toMatch(new RegExp(`^CLIENT ID\\s+${id}$`));
    expect(got.stdout.split('\n')[1]).toMatch(/^CLIENT SECRET$/);

    const listed = await run(['list', 'clients', ...endpoint]);
    expect(listed.code).toBe(0);
    const rows = listed.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^CLIENT ID\s+CLIENT SECRET\s+GRANT TYPES\s+RESPONSE TYPES\s+SCOPE\s+AUDIENCE\s+REDIRECT URIS$/);
    expect(rows.slice(1).some((line) => new RegExp(`^${id}\\s+authorization_code, refresh_token\\s+code\\s+openid$`).test(line))).toBe(
      true,
    );
    // The page's lines after an empty one, as Hydra's.
    expect(rows.slice(-3)).toEqual(['', expect.stringMatching(/^NEXT PAGE TOKEN$/), expect.stringMatching(/^IS LAST PAGE\s+true$/)]);
  });

  it('reads the endpoint from ORY_SDK_URL when --endpoint is not given', async () => {
    const response = await admin('/admin/clients', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const data = (await response.json()) as { client_id: string };
    const listed = await run(['list', 'clients', '--format', 'json'], { env: { ORY_SDK_URL: server.adminUrl } });
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { items: Array<{ client_id: string }> }).items.map((client) => client.client_id)).toContain(
      data.client_id,
    );
  });

  it('creates, shows and deletes a JSON Web Key Set', async () => {
    const created = await runJson<{ keys: Array<Record<string, string>> }>(['create', 'jwk', 'myset', '--alg', 'ES256', ...endpoint]);
    expect(created.keys).toHaveLength(1);
    const key = created.keys[0] as Record<string, string>;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key.d).toBeTruthy();

    const stored = (await (await admin('/admin/keys/myset')).json()) as { keys: Array<Record<string, string>> };
    expect(stored.keys.map((k) => k.kid)).toEqual([key.kid]);

    // As Hydra's `get jwk`, a set's only key is printed alone, naming its set.
    const shown = await runJson<Record<string, string>>(['get', 'jwk', 'myset', ...endpoint]);
    expect(shown).toEqual({ ...key, set: 'myset' });
    const onlyPublic = await runJson<Record<string, string>>(['get', 'jwk', 'myset', '--public', ...endpoint]);
    expect(onlyPublic).toMatchObject({ kid: key.kid, x: key.x, y: key.y, set: 'myset' });
    expect(onlyPublic.d).toBeUndefined();

    const table = await run(['get', 'jwk', 'myset', ...endpoint]);
    expect(table.code).toBe(0);
    expect(table.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^SET ID\s+myset$/),
      expect.stringMatching(new RegExp(`^KEY ID\\s+${key.kid}$`)),
      expect.stringMatching(/^ALGORITHM\s+ES256$/),
      expect.stringMatching(/^USE\s+sig$/),
    ]);
    // -q prints the first field, as Hydra's: the set.
    expect((await run(['get', 'jwk', 'myset', '-q', ...endpoint])).stdout).toBe('myset\n');

    const deleted = await run(['delete', 'jwk', 'myset', ...endpoint]);
    expect(deleted).toEqual({ code: 0, stdout: 'myset\n', stderr: '' });
    expect((await admin('/admin/keys/myset')).status).toBe(404);
  });

  it('fails with exit code 1 and one line on stderr for an unknown client', async () => {
    for (const command of [
      ['get', 'client', 'no-such-client'],
      ['update', 'client', 'no-such-client', '--name', 'x'],
      ['delete', 'client', 'no-such-client'],
    ]) {
      const result = await run([...command, ...endpoint]);
      expect(result.code, command.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(stderrLines(result)).toHaveLength(1);
      expect(result.stderr).toMatch(/^error: .*404.*no-such-client/);
    }
    const missingSet = await run(['get', 'jwk', 'no-such-set', ...endpoint]);
    expect(missingSet.code).toBe(1);
    expect(stderrLines(missingSet)).toHaveLength(1);
    expect(missingSet.stderr).toContain('no-such-set');
  });

  it('reports a client the server refuses, in one line', async () => {
    const result = await run(['create', 'client', ...endpoint, '--token-endpoint-auth-method', 'bogus']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: POST \/admin\/clients failed with 400/);
  });

  it('fails with exit code 1 and a readable message when the endpoint is unreachable', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await run(['list', 'clients', '--endpoint', closed]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toContain(`cannot reach the admin API at ${closed}/admin/clients`);
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});

describe.concurrent('configuration errors', () => {
  it('refuses a bad environment value with exit code 1 and one line naming the key', async () => {
    const result = await run(['serve', 'all', '--dev'], {
      env: { DSN: 'memory', SECRETS_SYSTEM: SECRET, SERVE_PUBLIC_PORT: 'abc' },
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toContain('serve.public.port');
    expect(result.stderr).toContain('SERVE_PUBLIC_PORT');
  });

  it('never echoes the value of a bad secret', async () => {
    const result = await run(['serve', 'all', '--dev'], { env: { DSN: 'memory', SECRETS_SYSTEM: 'tooShortValue' } });
    expect(result.code).toBe(1);
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toContain('secrets.system');
    expect(result.stderr).not.toContain('tooShortValue');
  });

  it('refuses an unknown key in a YAML file given with -c, naming it', async () => {
    const dir = tempDir();
    // `toString` exists on every object: it must be as unknown as any other name.
    for (const [yaml, key] of [
      ['serve:\n  public:\n    prot: 4444\n', 'serve.public.prot'],
      ['serve:\n  toString: {}\n', 'serve.toString'],
    ]) {
      writeFileSync(join(dir, 'portcullis.yaml'), yaml as string);
      const result = await run(['serve', 'all', '--dev', '-c', 'portcullis.yaml'], {
        cwd: dir,
        env: { DSN: 'memory', SECRETS_SYSTEM: SECRET },
      });
      expect(result.code, key).toBe(1);
      expect(stderrLines(result)).toHaveLength(1);
      expect(result.stderr).toContain(`${key} (from portcullis.yaml): unknown configuration key`);
    }
  });

  it('refuses a bad value in a JSON file, naming the key', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'portcullis.json'), JSON.stringify({ strategies: { access_token: 'paper' } }));
    const result = await run(['serve', 'all', '--dev', '--config', join(dir, 'portcullis.json')], {
      env: { DSN: 'memory', SECRETS_SYSTEM: SECRET },
    });
    expect(result.code).toBe(1);
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/strategies\.access_token .*portcullis\.json.*opaque, jwt/);
  });

  it('honours a YAML file, with the environment overriding it', async () => {
    const [filePublic, fileAdmin, envPublic] = [await freePort(), await freePort(), await freePort()];
    const dir = tempDir();
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      [
        'dsn: memory',
        'serve:',
        '  public:',
        `    port: ${filePublic}`,
        '    host: 127.0.0.1',
        '  admin:',
        `    port: ${fileAdmin}`,
        '    host: 127.0.0.1',
        'secrets:',
        `  system: [${SECRET}]`,
        'urls:',
        '  self:',
        '    issuer: http://issuer.from.file.example/',
        '',
      ].join('\n'),
    );
    const server = new Server(
      ['serve', 'all', '--dev', '-c', 'portcullis.yaml'],
      { cwd: dir, env: { SERVE_PUBLIC_PORT: String(envPublic), OAUTH2_HASHERS_PBKDF2_ITERATIONS: '1000' } },
      `http://127.0.0.1:${envPublic}`,
      `http://127.0.0.1:${fileAdmin}`,
    );
    try {
      await server.ready();
      await server.waitFor(`${server.publicUrl}/health/ready`);
      await expect(fetch(`http://127.0.0.1:${filePublic}/health/alive`)).rejects.toThrow();
      expect(server.stderr).toContain('"issuer":"http://issuer.from.file.example/"');
      // The system secret came from the file: none was generated.
      expect(existsSync(join(dir, 'data'))).toBe(false);
    } finally {
      await server.stop('SIGKILL');
    }
  });
});

describe('system secret', () => {
  it('production mode without secrets.system exits 1 naming the key', async () => {
    const dir = tempDir();
    const result = await run(['serve', 'all'], { cwd: dir, env: { DSN: 'memory' } });
    expect(result.code).toBe(1);
    expect(stderrLines(result)).toHaveLength(1);
    expect(result.stderr).toContain('secrets.system');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('development mode generates a secret under data/system-secret, warns loudly, and reuses it on restart', async () => {
    const dir = tempDir();
    const file = join(dir, 'data', 'system-secret');
    const first = await serve({ cwd: dir });
    try {
      await first.ready();
    } finally {
      await first.stop('SIGTERM');
    }
    expect(first.stderr).toContain('NO SYSTEM SECRET WAS CONFIGURED');
    expect(first.stderr).toContain('data/system-secret');
    const secret = readFileSync(file, 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(first.stderr).not.toContain(secret);
    expect(statSync(file).mode & 0o077).toBe(0);

    const second = await serve({ cwd: dir });
    try {
      await second.ready();
    } finally {
      await second.stop('SIGTERM');
    }
    expect(readFileSync(file, 'utf8').trim()).toBe(secret);
  });
});

interface StatusRow {
  name: string;
  applied: boolean;
  appliedAt?: string;
}

/** Status, up, down against one data source, checking the status output around each step. */
/** Eleven CLI runs, each a Node start: the tests using it get a longer timeout than one request needs. */
async function exerciseMigrations(dsn: string, tables: () => Promise<string[]>): Promise<void> {
  const initial = await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn]);
  expect(initial.length).toBeGreaterThan(0);
  expect(initial.every((row) => !row.applied && row.appliedAt === undefined)).toBe(true);
  const names = initial.map((row) => row.name);
  expect(names).toContain('0001-init');

  const table = await run(['migrate', 'sql', 'status', dsn]);
  expect(table.code).toBe(0);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^MIGRATION\s+STATUS\s+APPLIED AT$/);
  expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2))).toEqual(names.map((name) => [name, 'pending']));

  const up = await run(['migrate', 'sql', 'up', dsn]);
  expect(up.code).toBe(0);
  expect(up.stdout).toMatch(new RegExp(`^applied: ${names.join(', ')} \\(`));
  expect(await tables()).toEqual(expect.arrayContaining(['portcullis_migration', 'clients']));

  const applied = await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn]);
  expect(applied.map((row) => row.name)).toEqual(names);
  expect(applied.every((row) => row.applied && !Number.isNaN(Date.parse(row.appliedAt ?? '')))).toBe(true);
  const appliedTable = await run(['migrate', 'sql', 'status', dsn]);
  expect(appliedTable.stdout.trimEnd().split('\n').slice(1)).toEqual(
    applied.map((row) => expect.stringMatching(new RegExp(`^${row.name}\\s+applied\\s+${row.appliedAt}$`))),
  );

  expect(await runJson(['migrate', 'sql', 'up', dsn])).toEqual({ applied: [] });

  const down = await runJson(['migrate', 'sql', 'down', dsn]);
  expect(down).toEqual({ reverted: [names[names.length - 1]] });
  const afterDown = await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn]);
  expect(afterDown.map((row) => row.applied)).toEqual(names.map((_, i) => i < names.length - 1));

  const all = await run(['migrate', 'sql', 'down', dsn, '--steps', String(names.length + 1)]);
  expect(all.code).toBe(0);
  const final = await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn]);
  expect(final.every((row) => !row.applied)).toBe(true);
  expect(await tables()).not.toContain('clients');
  expect((await run(['migrate', 'sql', 'down', dsn])).stdout).toMatch(/^nothing to do/);
}

describe.concurrent('migrate sql', () => {
  it('reports, applies and reverts migrations on a SQLite file', { timeout: 120_000 }, async () => {
    const file = join(tempDir(), 'migrate.sqlite');
    await exerciseMigrations(`sqlite://${file}`, async () => {
      const db = new SQLite(file, { readonly: true });
      try {
        return (db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
      } finally {
        db.close();
      }
    });
  });

  it('reads the data source from the DSN environment variable when none is given', async () => {
    const file = join(tempDir(), 'env.sqlite');
    const up = await run(['migrate', 'sql', 'up', '-e', '--format', 'json'], { env: { DSN: `sqlite://${file}` } });
    expect(up.code).toBe(0);
    expect((JSON.parse(up.stdout) as { applied: string[] }).applied).toContain('0001-init');
    expect(existsSync(file)).toBe(true);
  });

  it("answers Hydra's deprecated `migrate status`, which with --block waits until nothing is pending", { timeout: 60_000 }, async () => {
    const dsn = `sqlite://${join(tempDir(), 'block.sqlite')}`;
    const waiting = new CliProcess(['migrate', 'status', dsn, '--block', '--format', 'json'], {}, tempDir());
    try {
      for (let i = 0; i < 200 && !waiting.stderr.includes(' - 0001-init'); i++) await sleep(50);
      expect(waiting.stderr).toContain('Waiting for migrations to finish...\n - 0001-init\n');
      expect(waiting.stderr).toContain('`migrate status` is deprecated');
      expect(waiting.exited).toBe(false);
      expect((await run(['migrate', 'sql', 'up', dsn])).code).toBe(0);
      expect((await waiting.exit).code).toBe(0);
      const rows = JSON.parse(waiting.stdout) as StatusRow[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.applied)).toBe(true);
    } finally {
      waiting.child.kill();
    }
    // Without --block it reports at once, as `migrate sql status` does.
    const now = await run(['migrate', 'status', dsn, '--format', 'json']);
    expect(now.code).toBe(0);
    expect(JSON.parse(now.stdout)).toEqual(await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn]));
  });

  it('refuses an unknown action', async () => {
    const result = await run(['migrate', 'sql', 'sideways', 'memory']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("'sideways' is invalid for argument 'action'");
  });

  it('reports, applies and reverts migrations on PostgreSQL, in the schema named by search_path', { timeout: 120_000 }, async () => {
    const schema = `cli_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`create schema ${schema}`);
      const dsn = new URL(POSTGRES_URL);
      dsn.searchParams.set('search_path', schema);
      await exerciseMigrations(dsn.toString(), async () => {
        const { rows } = await client.query<{ table_name: string }>(
          'select table_name from information_schema.tables where table_schema = $1',
          [schema],
        );
        return rows.map((row) => row.table_name);
      });
    } finally {
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
  });
});

describe('migrate sql on MySQL', () => {
  it("reports, applies and reverts migrations, from Hydra's DSN form", { timeout: 120_000 }, async () => {
    const mysql = STORES.find((store) => store.name === 'mysql') as (typeof STORES)[number];
    const { dsn, drop } = await mysql.create();
    const url = new URL(dsn);
    const credentials = `${decodeURIComponent(url.username)}${url.password ? `:${decodeURIComponent(url.password)}` : ''}`;
    const hydraDsn = `mysql://${credentials}@tcp(${url.hostname}:${url.port || 3306})${url.pathname}?parseTime=true&max_conns=2`;
    const direct = await openSql(dsn);
    try {
      await exerciseMigrations(hydraDsn, async () =>
        (await direct.all('select table_name as name from information_schema.tables where table_schema = database()')).map(
          (row) => row.name as string,
        ),
      );
    } finally {
      await direct.close();
      await drop();
    }
  });
});

describe('production mode over an unmigrated SQLite file', () => {
  it('serves, answers 503 from /health/ready until `migrate sql up`, then 200', async () => {
    const dir = tempDir();
    const dsn = `sqlite://${join(dir, 'prod.sqlite')}`;
    const server = await serve({ dev: false, cwd: dir, env: { DSN: dsn, SECRETS_SYSTEM: SECRET } });
    try {
      await server.waitFor(`${server.adminUrl}/health/alive`);
      for (const base of [server.adminUrl, server.publicUrl, server.adminUrl]) {
        const response = await fetch(`${base}/health/ready`);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { errors: Record<string, string> };
        expect(Object.keys(body.errors)).toEqual(['migrations']);
        expect(body.errors.migrations).toContain('0001-init');
      }
      expect(server.stderr).toContain('migrations are pending');
      // Not migrated behind the operator's back, and no development secret written.
      expect((await runJson<StatusRow[]>(['migrate', 'sql', 'status', dsn])).some((row) => !row.applied)).toBe(true);
      expect(existsSync(join(dir, 'data'))).toBe(false);

      const up = await run(['migrate', 'sql', 'up', dsn]);
      expect(up.code).toBe(0);
      expect(await (await fetch(`${server.adminUrl}/health/ready`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${server.publicUrl}/health/ready`)).status).toBe(200);
    } finally {
      await server.stop('SIGKILL');
    }
  });
});

describe('graceful shutdown', () => {
  /** Sends the head and half the body of a client creation; the rest comes when `finish` is called. */
  async function startSlowRequest(adminUrl: string) {
    const url = new URL(adminUrl);
    const body = JSON.stringify({ client_name: 'in flight' });
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(Number(url.port), url.hostname, resolve);
    });
    // Resolves with the raw response once its head and `content-length` bytes of body have arrived
    // (not when the connection closes: the client asks to keep it alive, as most clients do).
    const response = new Promise<string>((resolve, reject) => {
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
        const headEnd = received.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: *(\d+)/i.exec(received.slice(0, headEnd));
        if (headEnd >= 0 && length && Buffer.byteLength(received.slice(headEnd + 4)) >= Number(length[1])) resolve(received);
      });
      socket.once('close', () => reject(new Error(`connection closed before a full response: ${received}`)));
    });
    const half = Math.floor(body.length / 2);
    socket.write(
      `POST /admin/clients HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
    );
    return {
      finish: () => {
        socket.write(body.slice(half));
        return response;
      },
      destroy: () => socket.destroy(),
    };
  }

  it('on SIGTERM finishes the request in flight, logs the shutdown and exits 0 as soon as it is done', async () => {
    const server = await serve({ env: { SECRETS_SYSTEM: SECRET, SERVE_SHUTDOWN_TIMEOUT: '10s' } });
    try {
      await server.ready();
      const request = await startSlowRequest(server.adminUrl);
      try {
        await sleep(200);
        server.child.kill('SIGTERM');
        await server.waitForLog(/shutting down/);
        // Still running: it waits for the request that has begun.
        await sleep(300);
        expect(server.exited).toBe(false);
        const response = await request.finish();
        expect(response).toMatch(/^HTTP\/1\.1 201 /);
        const created = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { client_name: string; client_id: string };
        expect(created.client_name).toBe('in flight');
        // Once the last request is answered nothing is left to wait for: the process ends well before
        // serve.shutdown_timeout, although the client (like most) keeps its connection open.
        // (No second SIGTERM: the first one alone must end the process.)
        expect(await server.waitForExit(3_000)).toEqual({ code: 0, signal: null });
      } finally {
        request.destroy();
      }
      expect(server.stderr).toMatch(/"signal":"SIGTERM".*shutting down/);
      expect(server.stderr).toContain('"msg":"stopped"');
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('on SIGINT exits 0 after logging the shutdown', async () => {
    const server = await serve({ env: { SECRETS_SYSTEM: SECRET } });
    try {
      await server.ready();
      const started = Date.now();
      expect(await server.stop('SIGINT', 5_000)).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.stderr).toMatch(/"signal":"SIGINT".*shutting down/);
      expect(server.stderr).toContain('"msg":"stopped"');
    } finally {
      await server.stop('SIGKILL');
    }
  });
});
