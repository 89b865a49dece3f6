/**
 * The dynamic registration commands as an operator runs them: each case spawns the built
 * `dist/cli/main.js` (`npm test` builds first) against a test server — `register client`,
 * `get registered-client`, `update registered-client` and `delete registered-client`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const INITIAL = 'cli-initial-access-token-0123456789';

function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, env);
}

interface Registered {
  client_id: string;
  client_secret?: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: string[];
  scope: string;
  registration_access_token: string;
  registration_client_uri: string;
}

/** Runs a command that must succeed and print JSON. */
async function runJson<T = Registered>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const result = await run([...args, '--format', 'json'], env);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Asserts a failure: exit code 1 and one line on stderr. */
function expectFailure(result: CliResult, pattern: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(pattern);
}

describe('help', () => {
  it('offers the client flags, without those only the admin may set', async () => {
    const [register, get, update, remove] = await Promise.all([
      run(['register', 'client', '--help']),
      run(['get', 'registered-client', '--help']),
      run(['update', 'registered-client', '--help']),
      run(['delete', 'registered-client', '--help']),
    ]);
    for (const result of [register, get, update, remove]) {
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('--endpoint');
    }
    expect(register.stdout).toMatch(/^Usage: portcullis register client/);
    for (const flag of ['--name', '--redirect-uri', '--grant-type', '--scope', '--token-endpoint-auth-method', '--initial-access-token']) {
      expect(register.stdout).toContain(flag);
    }
    for (const flag of ['--id ', '--secret ', '--metadata', '--access-token-strategy', '--skip-consent', '--skip-logout-consent']) {
      expect(register.stdout).not.toContain(flag);
      expect(update.stdout).not.toContain(flag);
    }
    for (const result of [get, update, remove]) expect(result.stdout).toContain('--registration-access-token');
    expect(update.stdout).toContain('--redirect-uri');
  });
});

describe.each(STORES)('dynamic registration commands ($name)', (store) => {
  let server: TestServer;
  let gated: TestServer;
  let disabled: TestServer;

  beforeAll(async () => {
    // `read` allowed to self-registered clients (oidc.dynamic_client_registration.allowed_scopes).
    server = await startTestServer(store, {
      env: { OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true', OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_SCOPES: 'openid,read' },
    });
    gated = await startTestServer(store, {
      dsn: server.config.dsn,
      env: { OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true', OIDC_DYNAMIC_CLIENT_REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL },
    });
    disabled = await startTestServer(store, { dsn: server.config.dsn });
  });
  afterAll(async () => {
    await disabled?.close();
    await gated?.close();
    await server?.close();
  });

  const endpoint = () => ['--endpoint', server.publicUrl];

  it('registers, shows, updates (rotating the token) and deletes a client', async () => {
    const created = await runJson([
      'register',
      'client',
      ...endpoint(),
      '--name',
      'cli registered',
      '--redirect-uri',
      'https://rp.example/cb,https://rp.example/cb2',
      '--grant-type',
      'authorization_code,client_credentials',
      '--scope',
      'openid read',
    ]);
    expect(created.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.client_secret).toMatch(/^\S{26}$/);
    expect(created.registration_access_token).toMatch(/^ory_at_/);
    expect(created.registration_client_uri).toBe(
      `${server.config.urls.self.public.replace(/\/+$/, '')}/oauth2/register/${created.client_id}`,
    );
    const id = created.client_id;
    const admin = (await server.admin.oauth2.getOAuth2Client({ id })).data;
    expect(admin).toMatchObject({
      client_name: 'cli registered',
      redirect_uris: ['https://rp.example/cb', 'https://rp.example/cb2'],
      scope: 'openid read',
    });

    const shown = await runJson([
      'get',
      'registered-client',
      id,
      ...endpoint(),
      '--registration-access-token',
      created.registration_access_token,
    ]);
    expect(shown).toMatchObject({ client_id: id, client_name: 'cli registered' });
    expect(shown).not.toHaveProperty('client_secret');

    const updated = await runJson([
      'update',
      'registered-client',
      id,
      ...endpoint(),
      '--registration-access-token',
      created.registration_access_token,
      '--name',
      'renamed',
    ]);
    expect(updated.client_name).toBe('renamed');
    // Fields not given keep their values.
    expect(updated.redirect_uris).toEqual(['https://rp.example/cb', 'https://rp.example/cb2']);
    expect(updated.grant_types).toEqual(['authorization_code', 'client_credentials']);
    expect(updated.scope).toBe('openid read');
    expect(updated.registration_access_token).toMatch(/^ory_at_/);
    expect(updated.registration_access_token).not.toBe(created.registration_access_token);

    // The old token stopped working; the new one works, also from the environment.
    expectFailure(
      await run(['get', 'registered-client', id, ...endpoint(), '--registration-access-token', created.registration_access_token]),
      /^error: GET \/oauth2\/register\/\S+ failed with 401: .*does not exist or you provided incorrect credentials/,
    );
    const fromEnv = await runJson(['get', 'registered-client', id, ...endpoint()], {
      PORTCULLIS_REGISTRATION_ACCESS_TOKEN: updated.registration_access_token,
    });
    expect(fromEnv.client_name).toBe('renamed');

    const deleted = await run([
      'delete',
      'registered-client',
      id,
      ...endpoint(),
      '--registration-access-token',
      updated.registration_access_token,
    ]);
    expect(deleted).toEqual({ code: 0, stdout: `${id}\n`, stderr: '' });
    await expect(server.admin.oauth2.getOAuth2Client({ id })).rejects.toMatchObject({ response: { status: 404 } });
    expectFailure(
      await run(['get', 'registered-client', id, ...endpoint(), '--registration-access-token', updated.registration_access_token]),
      /failed with 401/,
    );
  });

  it('prints a table by default, the registration access token included', async () => {
    const result = await run(['register', 'client', '--name', 'tabled'], { PORTCULLIS_PUBLIC_URL: server.publicUrl });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [header, row] = result.stdout.trim().split('\n');
    expect(header).toMatch(/^CLIENT ID\s+CLIENT SECRET\s+REGISTRATION ACCESS TOKEN\s+NAME\s+GRANT TYPES/);
    expect(row).toMatch(/^[0-9a-f-]{36}\s+\S{26}\s+ory_at_\S+\s+tabled\s/);
  });

  it('sends the initial access token when the server wants one', async () => {
    const gatedEndpoint = ['--endpoint', gated.publicUrl];
    expectFailure(await run(['register', 'client', ...gatedEndpoint, '--name', 'no token']), /failed with 401: invalid_token/);
    const flag = await runJson(['register', 'client', ...gatedEndpoint, '--name', 'with flag', '--initial-access-token', INITIAL]);
    expect(flag.client_name).toBe('with flag');
    const env = await runJson(['register', 'client', ...gatedEndpoint, '--name', 'with env'], { PORTCULLIS_INITIAL_ACCESS_TOKEN: INITIAL });
    expect(env.client_name).toBe('with env');
  });

  it('reports the server’s refusals in one line with exit code 1', async () => {
    expectFailure(
      await run(['register', 'client', '--endpoint', disabled.publicUrl, '--name', 'off']),
      /failed with 404: .*Dynamic registration is not enabled\./,
    );
    expectFailure(
      await run(['register', 'client', ...endpoint(), '--redirect-uri', 'https://rp.example/cb#fragment']),
      /failed with 400: invalid_redirect_uri/,
    );
    expectFailure(await run(['get', 'registered-client', 'some-id', ...endpoint()]), /--registration-access-token .*is required/);
    expectFailure(
      await run(['register', 'client', '--endpoint', 'http://127.0.0.1:1', '--name', 'nowhere']),
      /^error: cannot reach the public API at http:\/\/127\.0\.0\.1:1\/oauth2\/register/,
    );
  });
});
