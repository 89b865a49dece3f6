/**
 * The client credentials grant at `POST /oauth2/token`, driven by a real OAuth client library
 * (oauth4webapi) for the happy paths and by hand-made requests for every error, on both stores.
 * Also the scope and audience matching rules on their own.
 */
import type { OAuth2Client } from '@ory/hydra-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audienceMatches, disallowedAudiences } from '../src/oauth2/audience.js';
import { disallowedScopes, parseScope, scopeAllowed, wildcardMatch } from '../src/oauth2/scope.js';
import { basicAuth, expectOAuthError, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

function serverOf(server: TestServer): oauth.AuthorizationServer {
  return { issuer: server.config.urls.self.issuer, token_endpoint: `${server.publicUrl}/oauth2/token` };
}

async function createClient(
  server: TestServer,
  client: OAuth2Client,
): Promise<OAuth2Client & { client_id: string; client_secret: string }> {
  const { data } = await server.admin.oauth2.createOAuth2Client({
    oAuth2Client: { grant_types: ['client_credentials'], ...client },
  });
  return data as OAuth2Client & { client_id: string; client_secret: string };
}

describe('scope matching (strategies.scope)', () => {
  it('exact: only equal scopes', () => {
    expect(scopeAllowed('exact', ['read', 'orders.*'], 'read')).toBe(true);
    expect(scopeAllowed('exact', ['read', 'orders.*'], 'orders.read')).toBe(false);
    expect(scopeAllowed('exact', ['read', 'orders.*'], 'orders.*')).toBe(true);
  });

  it('wildcard: a `*` part is one non-empty part; a trailing `*` also spans further parts', () => {
    expect(wildcardMatch('orders.*', 'orders.read')).toBe(true);
    expect(wildcardMatch('orders.*', 'orders.items.write')).toBe(true);
    expect(wildcardMatch('orders.*', 'orders')).toBe(false);
    expect(wildcardMatch('orders.*', 'orders.')).toBe(false);
    expect(wildcardMatch('orders.*', 'ordersx.read')).toBe(false);
    expect(wildcardMatch('orders.*.read', 'orders.items.read')).toBe(true);
    expect(wildcardMatch('orders.*.read', 'orders.items.write')).toBe(false);
    expect(wildcardMatch('orders.*.read', 'orders.items.sub.read')).toBe(false);
    expect(wildcardMatch('*', 'anything.at.all')).toBe(true);
    expect(wildcardMatch('read', 'read.more')).toBe(false);
    expect(wildcardMatch('read', 'read')).toBe(true);
  });

  it('parses space-separated scope strings and names the disallowed ones', () => {
    expect(parseScope('  a b  a c ')).toEqual(['a', 'b', 'c']);
    expect(parseScope(undefined)).toEqual([]);
    expect(disallowedScopes('wildcard', ['a', 'b.*'], ['a', 'b.c', 'c', 'b'])).toEqual(['c', 'b']);
  });
});

describe('audience matching (Hydra’s strategy)', () => {
  it('allows equal values and paths below an allowed URL, on a segment boundary', () => {
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v1')).toBe(true);
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v1/orders')).toBe(true);
    expect(audienceMatches('https://api.example/v1/', 'https://api.example/v1')).toBe(true);
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v10')).toBe(false);
    expect(audienceMatches('https://api.example', 'https://api.example/anything')).toBe(true);
    expect(audienceMatches('https://API.example/v1', 'https://api.example/v1/x')).toBe(true);
  });

  it('refuses another scheme, host or port, escapes, queries, and non-equal opaque URIs', () => {
    expect(audienceMatches('https://api.example/v1', 'http://api.example/v1')).toBe(false);
    expect(audienceMatches('https://api.example/v1', 'https://api.example.evil/v1')).toBe(false);
    expect(audienceMatches('https://api.example/v1', 'https://api.example:8443/v1')).toBe(false);
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v1/../admin')).toBe(false);
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v1/%2e%2e/admin')).toBe(false);
    expect(audienceMatches('https://api.example/v1', 'https://api.example/v1?x=1')).toBe(false);
    expect(audienceMatches('urn:example:api', 'urn:example:api')).toBe(true);
    expect(audienceMatches('urn:example:api', 'urn:example:other')).toBe(false);
  });

  it('treats plain names as paths and names the disallowed audiences', () => {
    expect(audienceMatches('orders', 'orders/read')).toBe(true);
    expect(audienceMatches('orders', 'ordersx')).toBe(false);
    expect(disallowedAudiences(['https://a.example/x', 'b'], ['https://a.example/x/y', 'c', 'b'])).toEqual(['c']);
  });
});

describe.each(STORES)('client credentials grant ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issues an opaque access token to a client_secret_basic client through oauth4webapi', async () => {
    const client = await createClient(server, { scope: 'read write orders.*', audience: ['https://api.example/v1'] });
    const response = await oauth.clientCredentialsGrantRequest(
      serverOf(server),
      { client_id: client.client_id },
      oauth.ClientSecretBasic(client.client_secret),
      new URLSearchParams({ scope: 'read orders.items.write', audience: 'https://api.example/v1/orders' }),
      insecure,
    );
    expect(response.headers.get('cache-control')).toBe('no-store');
    const token = await oauth.processClientCredentialsResponse(serverOf(server), { client_id: client.client_id }, response);
    expect(token.access_token).toMatch(/^ory_at_[\w-]+\.[\w-]+$/);
    expect(token.token_type).toBe('bearer');
    expect(token.expires_in).toBe(3600);
    expect(token.scope).toBe('read orders.items.write');
    expect(token.refresh_token).toBeUndefined();
    expect(token.id_token).toBeUndefined();

    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: token.access_token });
    expect(data.active).toBe(true);
    expect(data.sub).toBe(client.client_id);
    expect(data.client_id).toBe(client.client_id);
    expect(data.aud).toEqual(['https://api.example/v1/orders']);
  });

  it('authenticates client_secret_post clients through oauth4webapi', async () => {
    const client = await createClient(server, { scope: 'read', token_endpoint_auth_method: 'client_secret_post' });
    const response = await oauth.clientCredentialsGrantRequest(
      serverOf(server),
      { client_id: client.client_id },
      oauth.ClientSecretPost(client.client_secret),
      new URLSearchParams({ scope: 'read' }),
      insecure,
    );
    const token = await oauth.processClientCredentialsResponse(serverOf(server), { client_id: client.client_id }, response);
    expect(token.scope).toBe('read');
  });

  it('form-decodes the Basic client id and secret (RFC 6749 §2.3.1)', async () => {
    const id = 'svc:a+b %/é';
    const secret = 'p@ss word+:%&=';
    await createClient(server, { client_id: id, client_secret: secret, scope: 'read' });
    const viaLibrary = await oauth.clientCredentialsGrantRequest(
      serverOf(server),
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      new URLSearchParams(),
      insecure,
    );
    expect(viaLibrary.status).toBe(200);
    const handMade = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basicAuth(id, secret) });
    expect(handMade.status).toBe(200);
    // Unencoded, the same credentials do not authenticate: `:` splits early, and the `%/` left in the
    // secret is a bad escape, which fosite answers with invalid_request (issue 13 #6).
    const raw = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`;
    expectOAuthError(
      await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: raw(`${id}:${secret}`) }),
      400,
      'invalid_request',
    );
    // Without a `%`, the early split and `+` as a space name another client, which fails to authenticate.
    expectOAuthError(
      await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: raw('svc:a+b:p') }),
      401,
      'invalid_client',
    );
  });

  it('grants no scope when none is asked for (default_grant_allowed_scope off) and honours client lifespans', async () => {
    const client = await createClient(server, { scope: 'read write' });
    await server.admin.oauth2.setOAuth2ClientLifespans({
      id: client.client_id,
      oAuth2ClientTokenLifespans: { client_credentials_grant_access_token_lifespan: '90s' },
    });
    const answer = await tokenRequest(
      server,
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(client.client_id, client.client_secret) },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.scope).toBe('');
    expect(answer.body.expires_in).toBe(90);
  });

  it('accepts audience repeated and space-separated, each allowed by the client', async () => {
    const client = await createClient(server, { audience: ['https://a.example', 'https://b.example/api', 'urn:c'] });
    const answer = await tokenRequest(
      server,
      { grant_type: 'client_credentials', audience: ['https://a.example/x https://b.example/api/y', 'urn:c'] },
      { authorization: basicAuth(client.client_id, client.client_secret) },
    );
    expect(answer.status).toBe(200);
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: answer.body.access_token as string });
    expect(data.aud).toEqual(['https://a.example/x', 'https://b.example/api/y', 'urn:c']);
  });

  describe('errors, each as Hydra’s JSON with Cache-Control: no-store', () => {
    let secretClient: OAuth2Client & { client_id: string; client_secret: string };
    let postClient: OAuth2Client & { client_id: string; client_secret: string };
    beforeAll(async () => {
      secretClient = await createClient(server, { scope: 'read orders.*', audience: ['https://api.example/v1'] });
      postClient = await createClient(server, { token_endpoint_auth_method: 'client_secret_post' });
    });
    const auth = () => ({ authorization: basicAuth(secretClient.client_id, secretClient.client_secret) });

    it('unknown client: 401 invalid_client with a Basic challenge', async () => {
      const answer = await tokenRequest(
        server,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth('no-such-client', 'secret') },
      );
      expectOAuthError(answer, 401, 'invalid_client');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+"/);
    });

    it('wrong secret: 401 invalid_client, with the challenge only when Basic was used', async () => {
      const viaBasic = await tokenRequest(
        server,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(secretClient.client_id, 'wrong') },
      );
      expectOAuthError(viaBasic, 401, 'invalid_client');
      expect(viaBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
      const viaPost = await tokenRequest(server, {
        grant_type: 'client_credentials',
        client_id: postClient.client_id,
        client_secret: 'wrong',
      });
      expectOAuthError(viaPost, 401, 'invalid_client');
      expect(viaPost.headers.get('www-authenticate')).toBeNull();
    });

    it('a method other than the registered one: invalid_client naming both once the secret verified, else the bare invalid_client', async () => {
      const postForBasic = await tokenRequest(server, {
        grant_type: 'client_credentials',
        client_id: secretClient.client_id,
        client_secret: secretClient.client_secret,
      });
      expectOAuthError(postForBasic, 401, 'invalid_client');
      expect(postForBasic.body.error_description).toContain('client_secret_basic');
      expect(postForBasic.body.error_description).toContain('client_secret_post');

      const basicForPost = await tokenRequest(
        server,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(postClient.client_id, postClient.client_secret) },
      );
      expectOAuthError(basicForPost, 401, 'invalid_client');
      expect(basicForPost.body.error_description).toContain('"client_secret_post"');

      const noneForBasic = await tokenRequest(server, { grant_type: 'client_credentials', client_id: secretClient.client_id });
      expectOAuthError(noneForBasic, 401, 'invalid_client');
      // No secret, nothing proven: the registered method stays unsaid (issue 12 #19).
      expect(noneForBasic.body.error_description).not.toContain('client_secret_basic');
    });

    it('a Basic id or secret with a bad %-escape: 400 invalid_request, as fosite (issue 13 #6)', async () => {
      const raw = (pair: string) => ({ authorization: `Basic ${Buffer.from(pair).toString('base64')}` });
      for (const [pair, part] of [
        [`%ZZ:${secretClient.client_secret}`, 'client id'],
        [`${secretClient.client_id}:%E0%A4%A`, 'client secret'],
      ] as const) {
        const answer = await tokenRequest(server, { grant_type: 'client_credentials' }, raw(pair));
        expectOAuthError(answer, 400, 'invalid_request');
        expect(answer.body.error_description).toContain(`The ${part} in the HTTP authorization header could not be decoded`);
      }
      // Other malformed Basic credentials stay a failed authentication.
      expectOAuthError(
        await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }),
        401,
        'invalid_client',
      );
    });

    it('no credentials at all: invalid_client', async () => {
      expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials' }), 401, 'invalid_client');
    });

    it('Basic and body credentials at once: invalid_request', async () => {
      const answer = await tokenRequest(server, { grant_type: 'client_credentials', client_secret: secretClient.client_secret }, auth());
      expectOAuthError(answer, 400, 'invalid_request');
      const otherId = await tokenRequest(server, { grant_type: 'client_credentials', client_id: postClient.client_id }, auth());
      expectOAuthError(otherId, 400, 'invalid_request');
    });

    it('missing grant_type: invalid_request; unknown grant type: unsupported_grant_type', async () => {
      expectOAuthError(await tokenRequest(server, { scope: 'read' }, auth()), 400, 'invalid_request');
      expectOAuthError(
        await tokenRequest(server, { grant_type: 'password', username: 'u', password: 'p' }, auth()),
        400,
        'unsupported_grant_type',
      );
    });

    it('a client without the grant: unauthorized_client', async () => {
      const client = await createClient(server, { grant_types: ['authorization_code'], redirect_uris: ['https://app.example/cb'] });
      const answer = await tokenRequest(
        server,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(client.client_id, client.client_secret) },
      );
      expectOAuthError(answer, 400, 'unauthorized_client');
    });

    it('a public client: unauthorized_client (confidential clients only, RFC 6749 §4.4)', async () => {
      const client = await createClient(server, { token_endpoint_auth_method: 'none' });
      const answer = await tokenRequest(server, { grant_type: 'client_credentials', client_id: client.client_id });
      expectOAuthError(answer, 400, 'unauthorized_client');
    });

    it('a scope the client may not have: invalid_scope naming it', async () => {
      const answer = await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read admin' }, auth());
      expectOAuthError(answer, 400, 'invalid_scope');
      expect(answer.body.error_description).toContain('"admin"');
      expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials', scope: 'orders' }, auth()), 400, 'invalid_scope');
    });

    it('an audience the client may not have: invalid_request naming it', async () => {
      const answer = await tokenRequest(server, { grant_type: 'client_credentials', audience: 'https://api.example/v2' }, auth());
      expectOAuthError(answer, 400, 'invalid_request');
      expect(answer.body.error_description).toContain('https://api.example/v2');
    });

    it('a JSON body instead of a form: invalid_request', async () => {
      const response = await fetch(`${server.publicUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth() },
        body: JSON.stringify({ grant_type: 'client_credentials' }),
      });
      expectOAuthError(
        { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> },
        400,
        'invalid_request',
      );
    });

    it('a repeated scope parameter: invalid_request', async () => {
      expectOAuthError(
        await tokenRequest(server, { grant_type: 'client_credentials', scope: ['read', 'read'] }, auth()),
        400,
        'invalid_request',
      );
    });
  });

  it('remembers a verified secret briefly, but never across a secret change', async () => {
    const client = await createClient(server, { scope: 'read' });
    const hasher = server.registry.hasher;
    const original = hasher.verify;
    let verifications = 0;
    hasher.verify = async (secret, hash) => {
      verifications++;
      return original(secret, hash);
    };
    try {
      const ask = (secret: string) =>
        tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basicAuth(client.client_id, secret) });
      expect((await ask(client.client_secret)).status).toBe(200);
      expect(verifications).toBe(1);
      expect((await ask(client.client_secret)).status).toBe(200);
      expect(verifications).toBe(1);
      expect((await ask('not-the-secret')).status).toBe(401);
      expect(verifications).toBe(2);

      const { data } = await server.admin.oauth2.getOAuth2Client({ id: client.client_id });
      await server.admin.oauth2.setOAuth2Client({ id: client.client_id, oAuth2Client: { ...data, client_secret: 'a-brand-new-secret' } });
      expect((await ask(client.client_secret)).status).toBe(401);
      expect((await ask('a-brand-new-secret')).status).toBe(200);
    } finally {
      hasher.verify = original;
    }
  });
});

describe.each(STORES)('client credentials with JWT access tokens, exact scopes and default scope ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        STRATEGIES_ACCESS_TOKEN: 'jwt',
        STRATEGIES_SCOPE: 'exact',
        OAUTH2_CLIENT_CREDENTIALS_DEFAULT_GRANT_ALLOWED_SCOPE: 'true',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issues an RFC 9068 access token that verifies against the published keys, and stays introspectable and revocable', async () => {
    const client = await createClient(server, { scope: 'read write', audience: ['https://api.example'] });
    const response = await oauth.clientCredentialsGrantRequest(
      serverOf(server),
      { client_id: client.client_id },
      oauth.ClientSecretBasic(client.client_secret),
      new URLSearchParams({ scope: 'read', audience: 'https://api.example/x' }),
      insecure,
    );
    const token = await oauth.processClientCredentialsResponse(serverOf(server), { client_id: client.client_id }, response);
    expect(decodeProtectedHeader(token.access_token).typ).toBe('at+jwt');
    const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token.access_token, jwks, { issuer: server.config.urls.self.issuer, typ: 'at+jwt' });
    expect(payload.sub).toBe(client.client_id);
    expect(payload.client_id).toBe(client.client_id);
    expect(payload.scp).toEqual(['read']);
    expect(payload.aud).toEqual(['https://api.example/x']);
    expect((payload.exp as number) - (payload.iat as number)).toBe(3600);
    expect(typeof payload.jti).toBe('string');

    expect((await server.admin.oauth2.introspectOAuth2Token({ token: token.access_token })).data.active).toBe(true);
    const as = { ...serverOf(server), revocation_endpoint: `${server.publicUrl}/oauth2/revoke` };
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(
        as,
        { client_id: client.client_id },
        oauth.ClientSecretBasic(client.client_secret),
        token.access_token,
        insecure,
      ),
    );
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: token.access_token })).data.active).toBe(false);
  });

  it('grants every client scope when none is asked for, and matches scopes exactly', async () => {
    const client = await createClient(server, { scope: 'read orders.*' });
    const auth = { authorization: basicAuth(client.client_id, client.client_secret) };
    const all = await tokenRequest(server, { grant_type: 'client_credentials' }, auth);
    expect(all.status).toBe(200);
    expect(all.body.scope).toBe('read orders.*');
    expectOAuthError(await tokenRequest(server, { grant_type: 'client_credentials', scope: 'orders.read' }, auth), 400, 'invalid_scope');
    expect((await tokenRequest(server, { grant_type: 'client_credentials', scope: 'orders.*' }, auth)).status).toBe(200);
  });
});
