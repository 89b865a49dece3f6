/**
 * The token commands as an operator runs them: each case spawns the built `dist/cli/main.js`
 * (`npm test` builds first) against a test server — `perform client-credentials`,
 * `introspect token`, `revoke token` and `delete access-tokens`.
 */
import type { OAuth2Client } from '@ory/hydra-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './support/cli.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

function run(args: string[]): Promise<CliResult> {
  return runCli(args);
}

type Client = OAuth2Client & { client_id: string; client_secret: string };

describe.each(STORES)('token commands ($name)', (store) => {
  let server: TestServer;
  let client: Client;
  let postClient: Client;

  beforeAll(async () => {
    server = await startTestServer(store);
    const create = async (input: OAuth2Client) =>
      (await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], ...input } })).data as Client;
    client = await create({ scope: 'read write', audience: ['https://api.example'] });
    postClient = await create({ scope: 'read', token_endpoint_auth_method: 'client_secret_post' });
  });
  afterAll(async () => {
    await server?.close();
  });

  const perform = async (who: Client, ...extra: string[]) => {
    const result = await run([
      'perform',
      'client-credentials',
      '--client-id',
      who.client_id,
      '--client-secret',
      who.client_secret,
      '--endpoint',
      server.publicUrl,
      '--format',
      'json',
      ...extra,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { access_token: string; token_type: string; expires_in: number; scope: string };
  };

  const introspect = async (token: string, ...extra: string[]) => {
    const result = await run(['introspect', 'token', token, '--endpoint', server.adminUrl, '--format', 'json', ...extra]);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { active: boolean; sub?: string; scope?: string; aud?: string[] };
  };

  it('perform client-credentials prints the token response (JSON, and a table by default)', async () => {
    const token = await perform(client, '--scope', 'read,write', '--audience', 'https://api.example/x');
    expect(token.access_token).toMatch(/^ory_at_/);
    expect(token.token_type).toBe('bearer');
    expect(token.expires_in).toBe(3600);
    expect(token.scope).toBe('read write');
    const data = await introspect(token.access_token);
    expect(data.aud).toEqual(['https://api.example/x']);

    const table = await run([
      'perform',
      'client-credentials',
      '--client-id',
      client.client_id,
      '--client-secret',
      client.client_secret,
      '--scope',
      'read',
      '--endpoint',
      server.publicUrl,
    ]);
    expect(table.code).toBe(0);
    // Hydra's token table: name and value lines, `<empty>` for the tokens not issued, the expiry an instant.
    const lines = table.stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^ACCESS TOKEN\s+ory_at_\S+$/),
      expect.stringMatching(/^REFRESH TOKEN\s+<empty>$/),
      expect.stringMatching(/^ID TOKEN\s+<empty>$/),
      expect.stringMatching(/^EXPIRY\s+\S+$/),
    ]);
    const expiry = Date.parse(lines[3]?.split(/\s+/)[1] ?? '');
    expect(Math.abs(expiry - (Date.now() + 3600_000))).toBeLessThan(60_000);
  });

  it('perform client-credentials authenticates with client_secret_post on request', async () => {
    const token = await perform(postClient, '--auth-method', 'client_secret_post', '--scope', 'read');
    expect(token.scope).toBe('read');
  });

  it('perform client-credentials reports OAuth errors and exits 1', async () => {
    const result = await run([
      'perform',
      'client-credentials',
      '--client-id',
      client.client_id,
      '--client-secret',
      'not-the-secret',
      '--endpoint',
      server.publicUrl,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('401');
    expect(result.stderr).toContain('invalid_client');
    expect(result.stdout).toBe('');

    const scope = await run([
      'perform',
      'client-credentials',
      '--client-id',
      client.client_id,
      '--client-secret',
      client.client_secret,
      '--scope',
      'admin',
      '--endpoint',
      server.publicUrl,
    ]);
    expect(scope.code).toBe(1);
    expect(scope.stderr).toContain('invalid_scope');
  });

  it('introspect token shows active and inactive tokens, and honours --scope', async () => {
    const { access_token } = await perform(client, '--scope', 'read');
    const active = await introspect(access_token);
    expect(active.active).toBe(true);
    expect(active.sub).toBe(client.client_id);
    expect(active.scope).toBe('read');
    expect((await introspect(access_token, '--scope', 'write')).active).toBe(false);
    expect(await introspect('ory_at_not.a-token')).toEqual({ active: false });

    const table = await run(['introspect', 'token', access_token, '--endpoint', server.adminUrl]);
    // Hydra's introspection table: one name and value line per field.
    expect(table.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^ACTIVE\s+true$/),
      expect.stringMatching(new RegExp(`^SUBJECT\\s+${client.client_id}$`)),
      expect.stringMatching(new RegExp(`^CLIENT ID\\s+${client.client_id}$`)),
      expect.stringMatching(/^SCOPE\s+read$/),
      expect.stringMatching(/^EXPIRY\s+\d{4}-\S+Z$/),
      expect.stringMatching(/^TOKEN USE\s+access_token$/),
    ]);
  });

  it('revoke token revokes as the client; other clients cannot', async () => {
    const { access_token } = await perform(client);
    const stranger = await run([
      'revoke',
      'token',
      access_token,
      '--client-id',
      postClient.client_id,
      '--client-secret',
      postClient.client_secret,
      '--auth-method',
      'client_secret_post',
      '--endpoint',
      server.publicUrl,
    ]);
    expect(stranger.code).toBe(0);
    expect((await introspect(access_token)).active).toBe(true);

    const revoked = await run([
      'revoke',
      'token',
      access_token,
      '--client-id',
      client.client_id,
      '--client-secret',
      client.client_secret,
      '--endpoint',
      server.publicUrl,
    ]);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout.trim()).toBe(access_token);
    expect((await introspect(access_token)).active).toBe(false);

    const badSecret = await run([
      'revoke',
      'token',
      access_token,
      '--client-id',
      client.client_id,
      '--client-secret',
      'wrong',
      '--endpoint',
      server.publicUrl,
    ]);
    expect(badSecret.code).toBe(1);
    expect(badSecret.stderr).toContain('invalid_client');
  });

  it('delete access-tokens removes every access token of the client', async () => {
    const first = await perform(client);
    const second = await perform(client);
    const bystander = await perform(postClient, '--auth-method', 'client_secret_post');
    const result = await run(['delete', 'access-tokens', client.client_id, '--endpoint', server.adminUrl]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(client.client_id);
    expect((await introspect(first.access_token)).active).toBe(false);
    expect((await introspect(second.access_token)).active).toBe(false);
    expect((await introspect(bystander.access_token)).active).toBe(true);
  });

  it('explains an unreachable endpoint', async () => {
    const result = await run(['introspect', 'token', 'x', '--endpoint', 'http://127.0.0.1:1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:1\/admin\/oauth2\/introspect/);
  });
});
