/**
 * Hydra's token hooks (`oauth2.token_hook`, `oauth2.refresh_token_hook`) against a loopback hook
 * server, on every store: the payload each hook receives, the answer's claims in the access token
 * (introspection `ext`) and the ID token, 204 leaving tokens unchanged, 403 and other answers
 * refusing the request with Hydra's errors and issuing nothing, and the metrics per hook.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { CONSENT_URL, LOGIN_URL } from './support/browser.js';
import { basicAuth, expectOAuthError, tokenRequest } from './support/http.js';
import { CodeFlow, introspect, REDIRECT_URI, token } from './support/http-flow.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

interface HookCall {
  path: string;
  headers: IncomingMessage['headers'];
  body: HookBody;
}

/** The fields of a hook's request body the tests read (the rest is compared as a whole). */
interface HookBody {
  request: { grant_types: string[]; payload: Record<string, string[]> };
  session: { extra: Record<string, unknown>; id_token: { subject: string; id_token_claims: { ext: Record<string, unknown> } } };
}

/** A hook target whose next answers the test chooses, per path; it records every call. */
class HookServer {
  readonly calls: HookCall[] = [];
  readonly answers = new Map<string, { status: number; body?: unknown }>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '';
        this.calls.push({ path, headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        const answer = this.answers.get(path) ?? { status: 204 };
        // Status 0: the connection is dropped without an answer.
        if (answer.status === 0) {
          request.socket.destroy();
          return;
        }
        response.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': 'application/json' });
        response.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.calls.length = 0;
    this.answers.clear();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()));
  }
}

describe('token hook settings', () => {
  it('takes a URL alone or an object, from a file’s shape and both environment forms', () => {
    const short = loadConfig({ env: { OAUTH2_TOKEN_HOOK: 'https://hook.example/token' } });
    expect(short.oauth2.token_hook.url).toBe('https://hook.example/token');
    const long = loadConfig({
      env: {
        OAUTH2_REFRESH_TOKEN_HOOK_URL: 'https://hook.example/refresh',
        OAUTH2_REFRESH_TOKEN_HOOK_AUTH_TYPE: 'api_key',
        OAUTH2_REFRESH_TOKEN_HOOK_AUTH_CONFIG_IN: 'cookie',
      },
    });
    expect(long.oauth2.refresh_token_hook).toMatchObject({
      url: 'https://hook.example/refresh',
      auth: { type: 'api_key', config: { in: 'cookie' } },
    });
    expect(long.oauth2.token_hook.url).toBe('');
    expect(() => loadConfig({ env: { OAUTH2_TOKEN_HOOK: 'not a url' } })).toThrow(
      /oauth2\.token_hook\.url \(from environment variable OAUTH2_TOKEN_HOOK\)/,
    );
    expect(() => loadConfig({ env: { OAUTH2_TOKEN_HOOK_AUTH_TYPE: 'basic' } })).toThrow(/oauth2\.token_hook\.auth\.type/);
  });
});

describe.each(STORES)('token hooks on $name', (store) => {
  const hooks = new HookServer();
  let server: TestServer;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    await hooks.start();
    server = await startTestServer(store, {
      env: {
        URLS_LOGIN: LOGIN_URL,
        URLS_CONSENT: CONSENT_URL,
        OAUTH2_TOKEN_HOOK_URL: `${hooks.url}/token`,
        OAUTH2_TOKEN_HOOK_AUTH_TYPE: 'api_key',
        OAUTH2_TOKEN_HOOK_AUTH_CONFIG_NAME: 'X-Hook-Key',
        OAUTH2_TOKEN_HOOK_AUTH_CONFIG_VALUE: 'hook-secret',
        OAUTH2_REFRESH_TOKEN_HOOK: `${hooks.url}/refresh`,
      },
    });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        scope: 'openid offline_access read',
      },
    });
    client = { id: data.client_id as string, secret: data.client_secret as string };
  });
  afterAll(async () => {
    await server?.close();
    await hooks.close();
  });

  async function clientCredentials(): Promise<oauth.TokenEndpointResponse> {
    const as = { issuer: server.config.urls.self.issuer, token_endpoint: `${server.publicUrl}/oauth2/token` };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.id },
      oauth.ClientSecretBasic(client.secret),
      new URLSearchParams({ scope: 'read' }),
      { [oauth.allowInsecureRequests]: true },
    );
    return oauth.processClientCredentialsResponse(as, { client_id: client.id }, response);
  }

  it('client_credentials: sends Hydra’s payload with the API key, and puts the answer’s claims into the access token', async () => {
    hooks.reset();
    hooks.answers.set('/token', { status: 200, body: { session: { access_token: { tenant: 'acme' } } } });
    const before = server.registry.metrics.tokenHookCalls.get({ hook: 'token_hook', outcome: 'ok' });
    const tokens = await clientCredentials();
    expect(hooks.calls).toHaveLength(1);
    const [call] = hooks.calls as [HookCall];
    expect(call.path).toBe('/token');
    expect(call.headers['x-hook-key']).toBe('hook-secret');
    expect(call.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(call.body.request).toEqual({
      client_id: client.id,
      requested_scopes: ['read'],
      granted_scopes: ['read'],
      granted_audience: [],
      grant_types: ['client_credentials'],
      payload: { grant_type: ['client_credentials'], scope: ['read'] },
    });
    expect(call.body.session).toMatchObject({ client_id: client.id, extra: {}, id_token: { subject: client.id } });
    // The client's secret never reaches the hook.
    expect(JSON.stringify(call.body)).not.toContain(client.secret);
    const introspected = await introspect(server, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, ext: { tenant: 'acme' } });
    expect(server.registry.metrics.tokenHookCalls.get({ hook: 'token_hook', outcome: 'ok' })).toBe(before + 1);
  });

  it('204 leaves the tokens unchanged', async () => {
    hooks.reset();
    const tokens = await clientCredentials();
    expect(hooks.calls).toHaveLength(1);
    const introspected = await introspect(server, tokens.access_token);
    expect(introspected.active).toBe(true);
    expect(introspected.ext ?? {}).toEqual({});
    expect(server.registry.metrics.tokenHookCalls.get({ hook: 'token_hook', outcome: 'unchanged' })).toBeGreaterThan(0);
  });

  it('403 is access_denied, any other answer or a body that is not JSON is server_error; nothing is issued', async () => {
    const form = { grant_type: 'client_credentials', scope: 'read' };
    const auth = { authorization: basicAuth(client.id, client.secret) };
    const issuedBefore = server.registry.metrics.tokensIssued.get({ grant_type: 'client_credentials' });
    for (const [answer, status, error] of [
      [{ status: 403 }, 403, 'access_denied'],
      [{ status: 500 }, 500, 'server_error'],
      [{ status: 302 }, 500, 'server_error'],
      [{ status: 200, body: 'not json' }, 500, 'server_error'],
      [{ status: 200, body: { session: { access_token: 'a string' } } }, 500, 'server_error'],
    ] as const) {
      hooks.reset();
      hooks.answers.set('/token', answer);
      const refused = await tokenRequest(server, form, auth);
      expectOAuthError(refused, status, error);
      expect(refused.body.error_description).toBe('The token hook target responded with an error.');
    }
    hooks.reset();
    hooks.answers.set('/token', { status: 0 });
    const dropped = await tokenRequest(server, form, auth);
    expectOAuthError(dropped, 500, 'server_error');
    expect(dropped.body.error_description).toBe('An error occurred while executing the token hook.');
    expect(server.registry.metrics.tokensIssued.get({ grant_type: 'client_credentials' })).toBe(issuedBefore);
    expect(server.registry.metrics.tokenHookCalls.get({ hook: 'token_hook', outcome: 'denied' })).toBeGreaterThan(0);
    expect(server.registry.metrics.tokenHookCalls.get({ hook: 'token_hook', outcome: 'failed' })).toBeGreaterThan(4);
  });

  it('authorization_code and refresh_token: claims reach the ID token; the refresh hook runs first; a refusal spends nothing', async () => {
    hooks.reset();
    hooks.answers.set('/token', { status: 200, body: { session: { access_token: { a: 1 }, id_token: { b: 'two' } } } });
    const flow = await new CodeFlow(client).finish(server);
    expect(flow.error).toBeUndefined();
    const tokens = flow.tokens as { access_token: string; id_token: string; refresh_token: string };
    const codeCall = hooks.calls.at(-1) as HookCall;
    expect(codeCall.body.request.grant_types).toEqual(['authorization_code']);
    // The consent's ID-token claims are what the hook was shown, and what its answer replaced.
    expect(codeCall.body.session.id_token.id_token_claims.ext).toEqual({ email: 'alice@example.com' });
    expect(codeCall.body.session.id_token.subject).toBe('alice');
    expect(decodeJwt(tokens.id_token)).toMatchObject({ b: 'two' });
    expect(decodeJwt(tokens.id_token).email).toBeUndefined();
    expect(await introspect(server, tokens.access_token)).toMatchObject({ ext: { a: 1 } });

    // A refused refresh leaves the refresh token usable.
    hooks.reset();
    hooks.answers.set('/refresh', { status: 403 });
    const refused = await token(server, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('access_denied');
    expect(hooks.calls.map((call) => call.path)).toEqual(['/refresh']);

    hooks.reset();
    hooks.answers.set('/refresh', { status: 200, body: { session: { access_token: { refreshed: true } } } });
    const refreshed = await token(server, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(hooks.calls.map((call) => call.path)).toEqual(['/refresh', '/token']);
    const [refreshCall, tokenCall] = hooks.calls as [HookCall, HookCall];
    expect(refreshCall.body).toMatchObject({
      subject: 'alice',
      client_id: client.id,
      granted_scopes: ['openid', 'offline_access'],
      granted_audience: [],
      requester: { client_id: client.id, grant_types: ['refresh_token'] },
    });
    // token_hook (answering 204) sees what the refresh hook set.
    expect(tokenCall.body.session.extra).toEqual({ refreshed: true });
    expect(tokenCall.body.request.payload).toEqual({ grant_type: ['refresh_token'] });
    expect(JSON.stringify(tokenCall.body)).not.toContain(tokens.refresh_token);
    expect(await introspect(server, refreshed.body.access_token as string)).toMatchObject({ ext: { refreshed: true } });
  });
});
