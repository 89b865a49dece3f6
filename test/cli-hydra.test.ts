/**
 * The CLI as Hydra's (issue 14 item 6), by running the built `dist/cli/main.js`: output formats and
 * `-q`, `-H` and `--skip-tls-verify`, `import`, `--file`, aliases, `create client` defaults, key
 * commands, the client environment variables, `serve --sqa-opt-out` and `perform authorization-code`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { selfSignedCertificate } from '../src/cli/self-signed.js';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { CliProcess, type CliResult, killAll, runCli, sleep, startNode } from './support/cli.js';
import { freePort, startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-hydra-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

let server: TestServer;
let admin: string[];
let pub: string[];

beforeAll(async () => {
  server = await startTestServer(STORES[0] as (typeof STORES)[number], { env: FLOW_ENV });
  admin = ['--endpoint', server.adminUrl];
  pub = ['--endpoint', server.publicUrl];
});
afterAll(async () => {
  killAll();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string> = {}, stdin?: string): Promise<CliResult> =>
  runCli(args, env, 15_000, undefined, stdin);

async function ok(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<string> {
  const result = await run(args, env, stdin);
  expect(result.stderr, args.join(' ')).toBe('');
  expect(result.code, args.join(' ')).toBe(0);
  return result.stdout;
}

const json = async <T = Record<string, unknown>>(args: string[], env: Record<string, string> = {}, stdin?: string) =>
  JSON.parse(await ok([...args, '--format', 'json'], env, stdin)) as T;

interface ClientPage {
  items: Array<{ client_id: string }>;
  next_page_token: string;
  is_last_page: boolean;
}

const clientIds = async () => (await json<ClientPage>(['list', 'clients', ...admin, '--page-size', '500'])).items.map((c) => c.client_id);

describe('output formats', () => {
  it('prints json, json-pretty, yaml, jsonpath and jsonpointer, and only ids with -q', async () => {
    const created = await json(['create', 'client', ...admin, '--name', 'formats', '--scope', 'openid,offline']);
    const id = created.client_id as string;
    const get = (format: string[]) => ok(['get', 'client', id, ...admin, ...format]);

    const compact = await get(['--format', 'json']);
    expect(compact.trimEnd().split('\n')).toHaveLength(1);
    const prettyText = await get(['--format', 'json-pretty']);
    expect(prettyText.split('\n').length).toBeGreaterThan(5);
    expect(JSON.parse(prettyText)).toEqual(JSON.parse(compact));
    expect(parseYaml(await get(['--format', 'yaml']))).toEqual(JSON.parse(compact));

    expect(await get(['--format', 'jsonpath=client_name'])).toBe('"formats"\n');
    expect(await get(['--format', 'jsonpath=grant_types.0'])).toBe('"authorization_code"\n');
    expect(await get(['--format', 'jsonpointer=/scope'])).toBe('"openid offline"\n');
    expect(await get(['--format=jsonpointer=/response_types'])).toBe('[\n  "code"\n]\n');

    // Several clients: `#.field` maps over the list, `-q` prints one id a line.
    const other = await json(['create', 'client', ...admin, '--name', 'formats 2']);
    const both = await ok(['get', 'client', id, other.client_id as string, ...admin, '--format', 'jsonpath=#.client_name']);
    expect(JSON.parse(both)).toEqual(['formats', 'formats 2']);
    expect(await ok(['get', 'clients', id, other.client_id as string, ...admin, '-q'])).toBe(`${id}\n${other.client_id}\n`);
    expect((await ok(['list', 'clients', ...admin, '--quiet'])).trimEnd().split('\n')).toEqual(expect.arrayContaining([id]));
    expect(await ok(['delete', 'client', id, ...admin, '-q'])).toBe(`${id}\n`);
  });

  it('refuses an unknown format before sending anything', async () => {
    const before = await clientIds();
    for (const format of ['yml', 'jsonpath', 'jsonpointer=no-slash', 'JSON']) {
      const result = await run(['create', 'client', ...admin, '--name', 'never', '--format', format]);
      expect(result.code, format).toBe(1);
      expect(result.stdout, format).toBe('');
      expect(result.stderr, format).toContain(`'${format}' is invalid`);
    }
    expect(await clientIds()).toEqual(before);
  });
});

describe('clients', () => {
  it("sends the defaults of Hydra's create oauth2-client", async () => {
    const created = await json(['create', 'oauth2-client', ...admin]);
    expect(created).toMatchObject({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      subject_type: 'public',
      request_object_signing_alg: 'RS256',
    });
    // A flag given replaces its default rather than adding to it.
    const chosen = await json(['create', 'client', ...admin, '--grant-type', 'client_credentials', '--response-type', 'token']);
    expect(chosen).toMatchObject({ grant_types: ['client_credentials'], response_types: ['token'] });
  });

  it('creates and replaces a client from --file, a file or stdin ("-")', async () => {
    const path = file('client.json', JSON.stringify({ client_name: 'from file', scope: 'a b', grant_types: ['client_credentials'] }));
    const created = await json(['create', 'client', ...admin, '--file', path, '--name', 'ignored']);
    expect(created).toMatchObject({ client_name: 'from file', scope: 'a b', grant_types: ['client_credentials'] });
    const id = created.client_id as string;

    const piped = await json(['create', 'client', ...admin, '--file', '-', '--id', 'piped-client'], {}, '{"client_name":"piped"}');
    expect(piped).toMatchObject({ client_id: 'piped-client', client_name: 'piped' });

    // update --file replaces the whole client: what the file lacks gets its default.
    const replaced = await json(['update', 'client', id, ...admin, '--file', '-'], {}, '{"client_name":"replaced"}');
    expect(replaced).toMatchObject({ client_id: id, client_name: 'replaced', scope: 'offline_access offline openid', grant_types: [] });

    const bad = await run(['create', 'client', ...admin, '--file', file('bad.json', '{nope')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: could not decode JSON from .*bad\.json/);
    const missing = await run(['create', 'client', ...admin, '--file', join(dir, 'missing.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/could not open file .*missing\.json/);
  });

  it('imports clients from files and stdin, reporting the ones refused by file', async () => {
    const list = file(
      'clients.json',
      JSON.stringify([{ client_id: 'imported-1' }, { client_id: 'imported-2', client_secret: 'a-secret-of-the-file' }]),
    );
    const one = file('one.json', JSON.stringify({ client_id: 'imported-3' }));
    const imported = await json<Array<{ client_id: string; client_secret?: string }>>(
      ['import', 'oauth2-clients', list, one, '-', ...admin],
      {},
      '[{"client_id":"imported-4"}]',
    );
    expect(imported.map((c) => c.client_id).sort()).toEqual(['imported-1', 'imported-2', 'imported-3', 'imported-4']);
    expect(imported.find((c) => c.client_id === 'imported-2')?.client_secret).toBe('a-secret-of-the-file');
    expect(await clientIds()).toEqual(expect.arrayContaining(['imported-1', 'imported-2', 'imported-3', 'imported-4']));

    // Without files, stdin; a client that exists already fails, the others are still created.
    const again = await run(['import', 'client', ...admin, '-q'], {}, '[{"client_id":"imported-1"},{"client_id":"imported-5"}]');
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('imported-5\n');
    expect(again.stderr).toMatch(/^error: STDIN: POST \/admin\/clients failed with 409/);
  });

  it("lists a page at a time as Hydra's: items, next_page_token and is_last_page, --page-size and --page-token", async () => {
    await json(['create', 'client', ...admin]);
    await json(['create', 'client', ...admin]);
    const all = await json<ClientPage>(['list', 'clients', ...admin, '--page-size', '500']);
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    expect(all).toMatchObject({ next_page_token: '', is_last_page: true });

    const first = await json<ClientPage>(['list', 'clients', ...admin, '--page-size', '1']);
    expect(first.items.map((c) => c.client_id)).toEqual([all.items[0]?.client_id]);
    expect(first.next_page_token).not.toBe('');
    expect(first.is_last_page).toBe(false);
    const second = await json<ClientPage>(['list', 'clients', ...admin, '--page-size', '1', '--page-token', first.next_page_token]);
    expect(second.items.map((c) => c.client_id)).toEqual([all.items[1]?.client_id]);

    // The table ends with the page's two lines; -q prints only the items' ids; yaml has the same fields.
    // Page tokens are sealed with secrets.pagination (a fresh nonce each time), so each listing has its own.
    const table = (await ok(['list', 'clients', ...admin, '--page-size', '1'])).trimEnd().split('\n');
    expect(table.slice(-3)).toEqual(['', expect.stringMatching(/^NEXT PAGE TOKEN {2}[\w-]{20,}$/), 'IS LAST PAGE     false']);
    expect(await ok(['list', 'clients', ...admin, '--page-size', '1', '-q'])).toBe(`${first.items[0]?.client_id}\n`);
    const yaml = parseYaml(await ok(['list', 'clients', ...admin, '--page-size', '1', '--format', 'yaml'])) as ClientPage;
    expect({ ...yaml, next_page_token: '' }).toEqual({ ...first, next_page_token: '' });
    expect(yaml.next_page_token).not.toBe('');
  });

  it("answers to Hydra's aliases", async () => {
    const id = (await json(['create', 'client', ...admin]))?.client_id as string;
    expect((await json(['get', 'oauth2-clients', id, ...admin])).client_id).toBe(id);
    expect((await json<ClientPage>(['ls', 'oauth2-clients', ...admin])).items.map((c) => c.client_id)).toContain(id);
    expect(await ok(['delete', 'clients', id, ...admin])).toBe(`${id}\n`);
    expect(await clientIds()).not.toContain(id);
  });
});

describe('JSON Web Keys', () => {
  it('creates a key with the kid as an argument and shows several sets', async () => {
    const created = await json<{ set: string; keys: Array<Record<string, string>> }>([
      'create',
      'jwks',
      'set-a',
      'key-a',
      '--alg',
      'ES256',
      ...admin,
    ]);
    expect(created.set).toBe('set-a');
    expect(created.keys.map((k) => [k.kid, k.set])).toEqual([['key-a', 'set-a']]);
    // -q prints the key ids of a collection, as Hydra's.
    expect(await ok(['create', 'jwk', 'set-b', 'key-b', ...admin, '--alg', 'RS256', '-q'])).toBe('key-b\n');

    const both = await json<{ set?: string; keys: Array<Record<string, string>> }>(['get', 'jwk', 'set-a', 'set-b', ...admin, '--public']);
    expect(both.set).toBeUndefined();
    expect(both.keys.map((k) => k.set)).toEqual(['set-a', 'set-b']);
    expect(both.keys.every((k) => k.d === undefined)).toBe(true);
    const table = (await ok(['get', 'jwk', 'set-a', 'set-b', ...admin])).trimEnd().split('\n');
    expect(table[0]).toMatch(/^SET ID\s+KEY ID\s+ALGORITHM\s+USE$/);
    expect(table[1]).toMatch(/^set-a\s+key-a\s+ES256\s+sig$/);
    expect(table[2]).toMatch(/^set-b\s+key-b\s+RS256\s+sig$/);
    expect(await ok(['get', 'jwk', 'set-a', 'set-b', ...admin, '-q'])).toBe('key-a\nkey-b\n');
    expect(await ok(['delete', 'jwks', 'set-a', 'set-b', ...admin])).toBe('set-a\nset-b\n');
  });

  it('imports JSON Web Keys and PEM keys, with --use and --alg for what a key lacks', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = file('rsa.pem', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const publicPem = file('ec.pub.pem', ec.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const jwk = file('key.json', JSON.stringify({ ...ec.privateKey.export({ format: 'jwk' }), kid: 'json-key', alg: 'ES256', use: 'sig' }));

    const missingAlg = await run(['import', 'jwk', 'imported', pem, ...admin]);
    expect(missingAlg.code).toBe(1);
    expect(missingAlg.stderr).toMatch(/--alg is required/);

    const imported = await json<{ set: string; keys: Array<Record<string, string>> }>([
      'import',
      'jwk',
      'imported',
      pem,
      jwk,
      ...admin,
      '--alg',
      'RS256',
    ]);
    expect(imported.set).toBe('imported');
    expect(imported.keys.map((k) => [k.kty, k.alg, k.use])).toEqual([
      ['RSA', 'RS256', 'sig'],
      ['EC', 'ES256', 'sig'],
    ]);
    expect(imported.keys[1]?.kid).toBe('json-key');
    const piped = await json<{ keys: Array<Record<string, string>> }>(
      ['import', 'jwk', 'imported', ...admin, '--alg', 'ES256', '--use', 'enc'],
      {},
      ec.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    );
    expect(piped.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256', use: 'enc' });
    expect(piped.keys[0]?.d).toBeUndefined();
    const stored = (await (await fetch(`${server.adminUrl}/admin/keys/imported`)).json()) as { keys: Array<{ kid: string }> };
    expect(stored.keys).toHaveLength(3);
    expect(stored.keys.map((k) => k.kid)).toContain('json-key');

    const garbage = await run(['import', 'jwk', 'imported', publicPem, file('garbage.txt', 'not a key'), ...admin, '--alg', 'ES256']);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/could not decode a key from .*garbage\.txt/);
  });
});

/** A loopback stand-in for the admin API that records the headers of each request and lists no clients. */
function recorder(
  scheme: 'http' | 'https',
  listen: (handler: Parameters<typeof createServer>[1]) => Server,
): Promise<{ url: string; seen: IncomingHttpHeaders[]; close: () => void }> {
  const seen: IncomingHttpHeaders[] = [];
  const stand = listen((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { 'content-type': 'application/json' }).end('[]');
  });
  return new Promise((resolve) => {
    stand.listen(0, '127.0.0.1', () => {
      const { port } = stand.address() as AddressInfo;
      resolve({ url: `${scheme}://127.0.0.1:${port}`, seen, close: () => stand.close() });
    });
  });
}

describe('HTTP client flags', () => {
  it('sends every -H header, replacing a header of the same name, and refuses a malformed one', async () => {
    const stand = await recorder('http', (handler) => createServer(handler));
    try {
      await ok(['list', 'clients', '--endpoint', stand.url, '-H', 'X-Tenant: blue', '--http-header', 'Authorization: Bearer from-flag'], {
        PORTCULLIS_ADMIN_API_KEY: 'from-env',
      });
      expect(stand.seen[0]).toMatchObject({ 'x-tenant': 'blue', authorization: 'Bearer from-flag' });
      const bad = await run(['list', 'clients', '--endpoint', stand.url, '-H', 'no colon']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/--http-header must look like "Name: value"/);
      expect(stand.seen).toHaveLength(1);
    } finally {
      stand.close();
    }
  });

  it('checks certificates unless --skip-tls-verify', async () => {
    const stand = await recorder('https', (handler) => createHttpsServer(selfSignedCertificate(), handler));
    try {
      const refused = await run(['list', 'clients', '--endpoint', stand.url]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot reach the admin API .*(self-signed|self signed)/);
      expect(await ok(['list', 'clients', '--endpoint', stand.url, '--skip-tls-verify', '--format', 'json'])).toBe(
        '{"items":[],"next_page_token":"","is_last_page":true}\n',
      );
    } finally {
      stand.close();
    }
  });

  it('reads OAUTH2_CLIENT_ID, OAUTH2_CLIENT_SECRET and ORY_SDK_URL in the public-port commands', async () => {
    const client = await json(['create', 'client', ...admin, '--grant-type', 'client_credentials', '--scope', 'read']);
    const env = {
      OAUTH2_CLIENT_ID: client.client_id as string,
      OAUTH2_CLIENT_SECRET: client.client_secret as string,
      ORY_SDK_URL: server.publicUrl,
    };
    const token = await json(['perform', 'client-credentials', '--scope', 'read'], env);
    expect(token.access_token).toMatch(/^ory_at_/);
    expect(await ok(['revoke', 'token', token.access_token as string, '-q'], env)).toBe(`${token.access_token}\n`);
    const introspected = await json(['introspect', 'token', token.access_token as string, ...admin]);
    expect(introspected.active).toBe(false);
  });
});

describe('serve', () => {
  it('accepts --sqa-opt-out', async () => {
    const node = await startNode({ env: { DSN: 'memory' }, args: ['--dev', '--sqa-opt-out'] });
    try {
      expect((await fetch(`${node.adminUrl}/health/alive`)).status).toBe(200);
    } finally {
      await node.stop();
    }
  });
});

describe('perform authorization-code', () => {
  /** Waits until the command printed an authorization URL beyond the first `seen`, and returns it. */
  async function nextUrl(command: CliProcess, seen = 0): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const urls = [...command.stderr.matchAll(/^(http\S+\/oauth2\/auth\?\S+)$/gm)].map((m) => m[1] as string);
      if (urls.length > seen) return urls[seen] as string;
      await sleep(50);
    }
    throw new Error(`no authorization URL; stderr: ${command.stderr}`);
  }

  async function publicClient(port: number, scheme = 'http'): Promise<string> {
    const client = await json([
      'create',
      'client',
      ...admin,
      '--grant-type',
      'authorization_code,refresh_token',
      '--redirect-uri',
      `${scheme}://127.0.0.1:${port}/callback`,
      '--scope',
      'offline,openid',
      '--token-endpoint-auth-method',
      'none',
    ]);
    return client.client_id as string;
  }

  it('honours -p, --state, --auth-url, --token-url and --no-shutdown, running one flow after another', async () => {
    const port = await freePort();
    const clientId = await publicClient(port);
    const command = new CliProcess(
      [
        'perform',
        'authorization-code',
        '--client-id',
        clientId,
        '-p',
        String(port),
        '--no-open',
        '--no-shutdown',
        '--endpoint',
        'http://127.0.0.1:1',
        '--auth-url',
        `${server.publicUrl}/oauth2/auth`,
        '--token-url',
        `${server.publicUrl}/oauth2/token`,
        '--format',
        'json',
      ],
      {},
    );
    try {
      for (const round of [0, 1]) {
        const { callback } = await runFlow(server, new Browser(), await nextUrl(command, round));
        expect(callback.startsWith(`http://127.0.0.1:${port}/callback?code=`)).toBe(true);
        for (let i = 0; i < 100 && command.stdout.trimEnd().split('\n').filter(Boolean).length <= round; i++) await sleep(50);
      }
      const urls = [await nextUrl(command, 0), await nextUrl(command, 1), await nextUrl(command, 2)];
      // Each flow draws a new state.
      expect(new Set(urls.map((url) => new URL(url).searchParams.get('state'))).size).toBe(3);
      const printed = command.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { access_token: string });
      expect(printed).toHaveLength(2);
      expect(command.exited).toBe(false);
    } finally {
      command.child.kill();
    }

    // --state forces the state; --response-mode form_post answers by POST to the callback.
    const forced = new CliProcess(
      [
        'perform',
        'authorization-code',
        '--client-id',
        clientId,
        '--port',
        String(port),
        '--no-open',
        ...pub,
        '--state',
        'fixed-state-123',
        '--response-mode',
        'form_post',
      ],
      {},
    );
    const url = new URL(await nextUrl(forced));
    expect(url.searchParams.get('state')).toBe('fixed-state-123');
    expect(url.searchParams.get('response_mode')).toBe('form_post');
    const posted = await fetch(`http://127.0.0.1:${port}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'error=access_denied&error_description=no&state=fixed-state-123',
    });
    expect(posted.status).toBe(400);
    expect((await forced.exit).code).toBe(1);
    expect(forced.stderr).toContain('error: authorization failed: access_denied: no');
  });

  it('serves an example login and consent app, and with --skip accepts what the server marks skip', async () => {
    const port = await freePort();
    const app = `http://127.0.0.1:${port}`;
    const flows = await startTestServer(STORES[0] as (typeof STORES)[number], {
      env: { URLS_LOGIN: `${app}/login`, URLS_CONSENT: `${app}/consent` },
    });
    try {
      const { data } = await flows.admin.oauth2.createOAuth2Client({
        oAuth2Client: {
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: [`${app}/callback`],
          scope: 'openid offline',
          token_endpoint_auth_method: 'none',
        },
      });
      const args = ['perform', 'authorization-code', '--client-id', data.client_id as string, '-p', String(port), '--no-open'];
      const endpoints = ['--endpoint', flows.publicUrl, '--admin-endpoint', flows.adminUrl, '--format', 'json'];
      const browser = new Browser();
      /** Submits the page's form as a person would, accepting with every box ticked; returns where it leads. */
      const submit = async (pageUrl: string, body: string) => {
        const fields = new URLSearchParams();
        for (const [, name, value] of body.matchAll(/<input type="(?:hidden|checkbox)" name="(\w+)" value="([^"]*)"/g)) {
          fields.append(
            name as string,
            (value as string).replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))),
          );
        }
        for (const [, name] of body.matchAll(/<input type="checkbox" name="(remember)" checked>/g)) fields.append(name as string, 'on');
        fields.set('username', 'demo-user');
        fields.set('action', 'accept');
        const response = await browser.get(new URL(pageUrl).origin + new URL(pageUrl).pathname, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: fields.toString(),
        });
        expect(response.status, await response.clone().text()).toBe(302);
        return browser.follow(response.headers.get('location') as string);
      };

      const first = new CliProcess([...args, ...endpoints], {});
      const login = await browser.follow(await nextUrl(first));
      expect(login.url.startsWith(`${app}/login?login_challenge=`)).toBe(true);
      const loginPage = await login.response.text();
      expect(loginPage).toContain('Not signed in.');
      const consent = await submit(login.url, loginPage);
      expect(consent.url.startsWith(`${app}/consent?consent_challenge=`)).toBe(true);
      const consentPage = await consent.response.text();
      expect(consentPage).toContain('demo-user');
      const done = await submit(consent.url, consentPage);
      expect(done.url.startsWith(`${app}/callback?code=`)).toBe(true);
      expect((await first.exit).code).toBe(0);
      const tokens = JSON.parse(first.stdout) as { access_token: string; scope: string };
      expect((await flows.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data).toMatchObject({
        active: true,
        sub: 'demo-user',
      });

      // Remembered: with --skip, both steps go by without a page. A form that did not come from the page is refused.
      const second = new CliProcess([...args, ...endpoints, '--skip'], {});
      const url = await nextUrl(second);
      const forged = await fetch(`${app}/login`, { method: 'POST', body: 'action=accept&username=x&challenge=y&csrf=guess' });
      expect(forged.status).toBe(403);
      const skipped = await browser.follow(url);
      expect(skipped.url.startsWith(`${app}/callback?code=`)).toBe(true);
      expect((await second.exit).code).toBe(0);
    } finally {
      await flows.close();
    }
  });

  it('serves its callback over HTTPS with a self-signed certificate (--https), / redirecting to the authorization URL', async () => {
    const port = await freePort();
    const clientId = await publicClient(port, 'https');
    const command = new CliProcess(
      ['perform', 'authorization-code', '--client-id', clientId, '-p', String(port), '--no-open', '--https', ...pub],
      {},
    );
    try {
      const url = await nextUrl(command);
      expect(new URL(url).searchParams.get('redirect_uri')).toBe(`https://127.0.0.1:${port}/callback`);
      const { status, location, subject } = await new Promise<{ status?: number; location?: string; subject?: string }>(
        (resolve, reject) => {
          const request = httpsRequest(`https://127.0.0.1:${port}/`, { rejectUnauthorized: false }, (response) => {
            const certificate = (response.socket as import('node:tls').TLSSocket).getPeerCertificate();
            resolve({ status: response.statusCode, location: response.headers.location, subject: [certificate.subject?.CN].flat()[0] });
            response.resume();
          });
          request.once('error', reject);
          request.end();
        },
      );
      expect(status).toBe(302);
      expect(location).toBe(url);
      expect(subject).toBe('localhost');
    } finally {
      command.child.kill();
    }
  });
});
