/**
 * Issue 12, credentials and sessions: the admin session endpoints' errors, `id_token_hint` at the
 * authorization endpoint, the issuer check and cookie secrets, the shared client-authentication rate
 * limit, and deleting a user. Every test drives the server over HTTP on both stores.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { SqlUserStore } from '../src/identity/user-store.js';
import { ID_TOKEN_SET } from '../src/jwk/manager.js';
import { signLogoutToken } from '../src/oidc/backchannel.js';
import { Browser, FLOW_ENV, LOGIN_URL, runFlow } from './support/browser.js';
import { runCli } from './support/cli.js';
import { type Answer, admin, type Client, CodeFlow, introspect, REDIRECT_URI, token } from './support/http-flow.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

function expectInvalidRequest(answer: Answer, hint: string): void {
  expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  expect(answer.body.error_description).toContain(hint);
}

describe.each(STORES)('issue 12: credentials and sessions ($name)', (store) => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer(store, { env: { ...FLOW_ENV } });
    const created = await admin(server, 'POST', '/admin/clients', {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://rp.example/cb'],
      scope: 'openid offline_access',
    });
    client = { id: created.body.client_id as string, secret: created.body.client_secret as string };
  });
  afterAll(async () => {
    await server?.close();
  });

  /** An authorization request of `client` on `node`, through login (remembered when `remember`) and consent. */
  async function remembered(
    node: TestServer,
    browser: Browser,
    remember: boolean,
    subject = 'alice',
  ): Promise<{ loginSkipped: boolean | undefined; code: string }> {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid offline_access',
      state: 'state-of-the-flow',
      nonce: 'nonce-of-the-flow',
    });
    const { callback, loginSkipped } = await runFlow(node, browser, `${node.publicUrl}/oauth2/auth?${query}`, {
      login: (skip, known) => ({ subject: skip ? known : subject, remember, remember_for: 3600 }),
    });
    const code = new URL(callback).searchParams.get('code') as string;
    expect(code).toBeTruthy();
    return { loginSkipped, code };
  }

  it('issue 12 #22: the session DELETE endpoints answer a bad parameter combination with invalid_request, as Hydra', async () => {
    const consent = '/admin/oauth2/auth/sessions/consent';
    for (const query of ['', '?subject=alice', '?client=x', '?all=true', '?subject=alice&client=x&all=true', '?subject=&all=true']) {
      expectInvalidRequest(await admin(server, 'DELETE', `${consent}${query}`), 'Invalid combination of query parameters.');
    }
    expectInvalidRequest(await admin(server, 'DELETE', `${consent}?consent_request_id=x&subject=alice`), 'Invalid combination');
    expectInvalidRequest(await admin(server, 'GET', consent), "Query parameter 'subject' is not defined but should have been.");
    for (const query of ['', '?subject=', '?sid=&subject=']) {
      expectInvalidRequest(
        await admin(server, 'DELETE', `/admin/oauth2/auth/sessions/login${query}`),
        "Either 'subject' or 'sid' query parameters need to be defined.",
      );
    }
    // Both given: Hydra ends the one session named by sid.
    expect((await admin(server, 'DELETE', '/admin/oauth2/auth/sessions/login?subject=alice&sid=no-such-session')).status).toBe(204);

    // The valid combinations still work, consent_request_id alone (Hydra's third form) included.
    const flow = await new CodeFlow(client).finish(server);
    expect(flow.error).toBeUndefined();
    const accessToken = flow.tokens?.access_token as string;
    expect((await introspect(server, accessToken)).active).toBe(true);
    const listed = await admin(server, 'GET', `${consent}?subject=alice`);
    const sessions = listed.body as unknown as Array<{ consent_request_id: string }>;
    expect(sessions).toHaveLength(1);
    const byId = await admin(
      server,
      'DELETE',
      `${consent}?consent_request_id=${encodeURIComponent(sessions[0]?.consent_request_id ?? '')}`,
    );
    expect(byId.status).toBe(204);
    expect((await introspect(server, accessToken)).active).toBe(false);
    expect((await admin(server, 'GET', `${consent}?subject=alice`)).body).toEqual([]);
    expect((await admin(server, 'DELETE', `${consent}?subject=alice&all=true`)).status).toBe(204);
    expect((await admin(server, 'DELETE', `${consent}?subject=alice&client=${client.id}`)).status).toBe(204);
  });

  it('issue 12 #18: id_token_hint at the authorization endpoint must be an ID token, not any JWT signed with the ID-token key', async () => {
    const created = await admin(server, 'POST', '/admin/clients', {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid',
      userinfo_signed_response_alg: 'RS256',
    });
    const signedUserinfoClient = { id: created.body.client_id as string, secret: created.body.client_secret as string };
    const flow = await new CodeFlow(signedUserinfoClient, 'openid').finish(server);
    expect(flow.error).toBeUndefined();
    const idToken = flow.tokens?.id_token as string;
    const userinfo = await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${flow.tokens?.access_token}` } });
    expect(userinfo.headers.get('content-type')).toContain('application/jwt');
    const signedUserinfo = await userinfo.text();
    // A verifiable credential as /credentials issues it (iss, sub, iat, exp, vc; no aud), and a logout token.
    const signer = await server.registry.keys.signingKey(ID_TOKEN_SET);
    const now = Math.floor(Date.now() / 1000);
    const credential = await new SignJWT({ vc: { type: ['VerifiableCredential', 'UserInfoCredential'], credentialSubject: {} } })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .setIssuer(server.config.urls.self.issuer)
      .setSubject('did:jwk:x')
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(signer.key);
    const stored = await server.registry.clients.find(client.id);
    const logoutToken = await signLogoutToken(server.registry, stored?.client as never, randomUUID());

    const authorize = async (hint: string) => {
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: signedUserinfoClient.id,
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        state: 'state-of-the-flow',
        id_token_hint: hint,
      });
      const response = await fetch(`${server.publicUrl}/oauth2/auth?${query}`, { redirect: 'manual' });
      return new URL(response.headers.get('location') as string);
    };
    expect((await authorize(idToken)).toString().startsWith(LOGIN_URL)).toBe(true);
    for (const [what, hint] of [
      ['a signed userinfo answer', signedUserinfo],
      ['a verifiable credential', credential],
      ['a logout token', logoutToken],
    ] as const) {
      const location = await authorize(hint);
      expect(`${location.origin}${location.pathname}`, what).toBe(REDIRECT_URI);
      expect(location.searchParams.get('error'), what).toBe('invalid_request');
      expect(location.searchParams.get('error_description'), what).toContain('id_token_hint');
    }
  });

  it('issue 12 #16: portcullis users delete ends the person’s login sessions, consents and tokens', async () => {
    const users = new SqlUserStore(server.registry.database.db);
    const [dora, eve] = await Promise.all(
      ['dora', 'eve'].map((username) => users.create({ username, password: 'correct horse battery staple' })),
    );
    const signedIn = async (subject: string) => {
      const browser = new Browser();
      const { code } = await remembered(server, browser, true, subject);
      const answer = await token(server, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      expect(answer.status).toBe(200);
      return { browser, tokens: [answer.body.access_token as string, answer.body.refresh_token as string] };
    };
    const doomed = await signedIn(dora?.id as string);
    const kept = await signedIn(eve?.id as string);

    const result = await runCli(['users', 'delete', 'dora'], { DSN: server.config.dsn }, 30_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    for (const value of doomed.tokens) expect((await introspect(server, value)).active).toBe(false);
    expect((await admin(server, 'GET', `/admin/oauth2/auth/sessions/consent?subject=${dora?.id}`)).body).toEqual([]);
    // The remembered sign-in is gone too: the same browser is asked to sign in again.
    expect((await remembered(server, doomed.browser, false, 'nobody')).loginSkipped).toBe(false);
    // Nobody else's.
    for (const value of kept.tokens) expect((await introspect(server, value)).active).toBe(true);
    expect((await remembered(server, kept.browser, false)).loginSkipped).toBe(true);
  });

  it('issue 12 #19: secrets.cookie signs the login session cookie (the first signs, all verify), not secrets.system', async () => {
    const [oldSecret, newSecret] = ['cookie-secret-old-0123456789', 'cookie-secret-new-0123456789'];
    const node = (cookieSecrets?: string) =>
      startTestServer(store, { dsn: server.config.dsn, env: { ...FLOW_ENV, ...(cookieSecrets ? { SECRETS_COOKIE: cookieSecrets } : {}) } });
    const signer = await node(oldSecret);
    const rotated = await node(`${newSecret},${oldSecret}`);
    const replaced = await node(newSecret);
    try {
      const browser = new Browser();
      expect((await remembered(signer, browser, true)).loginSkipped).toBe(false);
      expect((await remembered(signer, browser, false)).loginSkipped).toBe(true);
      // After rotation (new secret first) the old cookie still verifies ...
      expect((await remembered(rotated, browser, false)).loginSkipped).toBe(true);
      // ... but not where the old secret is gone, nor under the system secret every node shares.
      expect((await remembered(replaced, browser, false)).loginSkipped).toBe(false);
      expect((await remembered(server, browser, false)).loginSkipped).toBe(false);
    } finally {
      await Promise.all([signer.close(), rotated.close(), replaced.close()]);
    }
  });
});

describe('issue 12 #19: the production issuer check', () => {
  it('issue 12 #19: an http issuer outside development mode must be a loopback address, not a name that starts like one', () => {
    const load = (issuer: string) => loadConfig({ env: { URLS_SELF_ISSUER: issuer, SECRETS_SYSTEM: 'test-secret-0123456789abcdef' } });
    for (const issuer of ['http://127.attacker.example/', 'http://127.0.0.1.attacker.example/', 'http://localhost.attacker.example/']) {
      expect(() => load(issuer), issuer).toThrow(ConfigError);
    }
    for (const issuer of [
      'http://127.0.0.1:4444/',
      'http://127.1.2.3/',
      'http://localhost:4444/',
      'http://[::1]:4444/',
      'https://127.attacker.example/',
    ]) {
      expect(load(issuer).urls.self.issuer, issuer).toBe(issuer);
    }
  });
});
