/**
 * `urls.identity_provider.*` (issue 14 #3): a logout that ends a login session accepted with an
 * `identity_provider_session_id` also disables that session at the identity provider, as Hydra does with
 * Ory Kratos (`DELETE <url>/admin/sessions/<id>`, with the configured headers). A loopback stand-in plays
 * Kratos; the flows run with Ory's SDK and openid-client.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
const LOGOUT_URL = 'http://logout.test/logout';

interface Received {
  method: string;
  path: string;
  apiKey: string | undefined;
}

describe('logout ends the identity provider’s session', () => {
  let standIn: Server;
  const received: Received[] = [];
  let server: TestServer;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    standIn = createServer((request, response) => {
      received.push({ method: request.method ?? '', path: request.url ?? '', apiKey: request.headers['x-api-key'] as string | undefined });
      response.statusCode = (request.url ?? '').includes('failing') ? 500 : 204;
      response.end();
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const { port } = standIn.address() as AddressInfo;
    server = await startTestServer(STORES[0] as (typeof STORES)[number], {
      env: {
        ...FLOW_ENV,
        URLS_LOGOUT: LOGOUT_URL,
        URLS_IDENTITY_PROVIDER_URL: `http://127.0.0.1:${port}/kratos-admin`,
        URLS_IDENTITY_PROVIDER_HEADERS: JSON.stringify({ 'X-Api-Key': 'idp-api-key' }),
      },
    });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['authorization_code'], redirect_uris: [REDIRECT], scope: 'openid' },
    });
    rp = relyingParty(server, data.client_id as string, data.client_secret as string);
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => standIn?.close(resolve));
  });

  /** Signs in a browser (remembered) with an identity provider session id; returns the browser and the session's sid. */
  async function signIn(identityProviderSessionId?: string) {
    const browser = new Browser();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'idp-logout-state' });
    const { callback } = await runFlow(server, browser, url.toString(), {
      login: { remember: true, ...(identityProviderSessionId ? { identity_provider_session_id: identityProviderSessionId } : {}) },
    });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'idp-logout-state' });
    return { browser, sid: tokens.claims()?.sid as string };
  }

  async function requestFor(identityProviderSessionId: string): Promise<Received> {
    const path = `/kratos-admin/admin/sessions/${identityProviderSessionId}`;
    for (let tries = 0; tries < 200; tries++) {
      const found = received.find((entry) => entry.path === path);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`the identity provider was never asked to end ${identityProviderSessionId}`);
  }

  it('on a browser logout, disables the session at the identity provider with the configured headers', async () => {
    const { browser } = await signIn('kratos-session-browser');
    const { url } = await browser.follow(`${server.publicUrl}/oauth2/sessions/logout`);
    expect(url.startsWith(LOGOUT_URL)).toBe(true);
    const challenge = new URL(url).searchParams.get('logout_challenge') as string;
    const { data } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
    await browser.follow(data.redirect_to);
    expect(await requestFor('kratos-session-browser')).toEqual({
      method: 'DELETE',
      path: '/kratos-admin/admin/sessions/kratos-session-browser',
      apiKey: 'idp-api-key',
    });
  });

  it('on a headless logout by sid, too; a session without an identity provider session asks nothing', async () => {
    const plain = await signIn();
    await server.admin.oauth2.revokeOAuth2LoginSessions({ sid: plain.sid });
    const { sid } = await signIn('kratos-session-headless');
    const before = received.length;
    await server.admin.oauth2.revokeOAuth2LoginSessions({ sid });
    expect((await requestFor('kratos-session-headless')).method).toBe('DELETE');
    // Only the session that had one was ended at the identity provider.
    expect(received.slice(before).map((entry) => entry.path)).toEqual(['/kratos-admin/admin/sessions/kratos-session-headless']);
    expect(received.filter((entry) => !entry.path.includes('kratos-session-'))).toEqual([]);
  });

  it('still ends the session here when the identity provider fails, and logs the failure', async () => {
    const { sid } = await signIn('failing-session');
    const { status } = await server.admin.oauth2.revokeOAuth2LoginSessions({ sid });
    expect(status).toBe(204);
    await requestFor('failing-session');
    for (let tries = 0; tries < 100 && !server.logs.some((line) => line.includes('Unable to revoke the session')); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(server.logs.some((line) => line.includes('Unable to revoke the session at the identity provider.'))).toBe(true);
    // The login session is gone: revoking it again asks the identity provider nothing more.
    const before = received.length;
    await server.admin.oauth2.revokeOAuth2LoginSessions({ sid });
    expect(received.length).toBe(before);
  });
});

describe('urls.identity_provider.headers', () => {
  const load = (value: string) => () => loadConfig({ env: { URLS_IDENTITY_PROVIDER_HEADERS: value } });

  it('reads a JSON object of header names and values from the environment', () => {
    expect(load('{"X-Api-Key":"k","Authorization":"Bearer t"}')().urls.identity_provider.headers).toEqual({
      'X-Api-Key': 'k',
      Authorization: 'Bearer t',
    });
  });

  it('refuses what is not such an object, without showing the value', () => {
    for (const bad of ['not json', '["a"]', '{"X-Key":1}', '{"Bad Name":"v"}', '{"X-Key":"v\\r\\nInjected: yes"}']) {
      expect(load(bad), bad).toThrow(ConfigError);
      try {
        load(bad)();
      } catch (error) {
        expect((error as Error).message, bad).not.toContain(bad);
      }
    }
  });
});
