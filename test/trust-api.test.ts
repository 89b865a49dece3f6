import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonWebKey as SdkJwk, TrustOAuth2JwtGrantIssuer } from '@ory/hydra-client';
import { importJWK, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJanitor } from '../src/janitor/janitor.js';
import { basicAuth, expectOAuthError, rejection, tokenRequest } from './support/http.js';
import { issuerKey, signAssertion } from './support/jwt-bearer.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const PATH = '/admin/trust/grants/jwt-bearer/issuers';
const IN_A_DAY = () => new Date(Date.now() + 86_400_000).toISOString();

describe.each(STORES)('JWT-bearer trust admin API ($name)', (store) => {
  let server: TestServer;
  let key: { public: JWK; private: JWK };
  const trust = (body: Partial<TrustOAuth2JwtGrantIssuer>) =>
    server.admin.oauth2.trustOAuth2JwtGrantIssuer({ trustOAuth2JwtGrantIssuer: body as TrustOAuth2JwtGrantIssuer });
  const raw = (method: string, path: string, body?: unknown) =>
    fetch(`${server.adminUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });

  beforeAll(async () => {
    server = await startTestServer(store);
    key = await issuerKey('issuer-key-1');
  });
  afterAll(() => server?.close());

  it('trusts an issuer, shows it, lists it and forgets it, as Hydra answers', async () => {
    const expiresAt = '2099-01-02T03:04:05.678Z';
    const {
      data: created,
      status,
      headers,
    } = await trust({
      issuer: 'https://issuer.example',
      subject: 'alice',
      scope: ['read', 'write'],
      jwk: key.public as unknown as SdkJwk,
      expires_at: expiresAt,
    });
    expect(status).toBe(201);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers.location).toBe(`/trust/grants/jwt-bearer/issuers/${created.id}`);
    expect(created).toMatchObject({
      issuer: 'https://issuer.example',
      subject: 'alice',
      allow_any_subject: false,
      scope: ['read', 'write'],
      public_key: { set: 'https://issuer.example', kid: 'issuer-key-1' },
      expires_at: '2099-01-02T03:04:06Z',
    });
    expect(created.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // The key itself is never echoed: only its set and kid.
    expect(JSON.stringify(created)).not.toContain(String(key.public.x));

    const { data: fetched } = await server.admin.oauth2.getTrustedOAuth2JwtGrantIssuer({ id: created.id as string });
    expect(fetched).toEqual(created);

    const { data: listed } = await server.admin.oauth2.listTrustedOAuth2JwtGrantIssuers({ issuer: 'https://issuer.example' });
    expect(listed).toEqual([created]);
    const { data: none } = await server.admin.oauth2.listTrustedOAuth2JwtGrantIssuers({ issuer: 'https://other.example' });
    expect(none).toEqual([]);

    const deleted = await server.admin.oauth2.deleteTrustedOAuth2JwtGrantIssuer({ id: created.id as string });
    expect(deleted.status).toBe(204);
    const gone = await rejection(server.admin.oauth2.getTrustedOAuth2JwtGrantIssuer({ id: created.id as string }));
    expect(gone.status).toBe(404);
    expect(gone.body.error).toBe('Unable to locate the resource');
    expect((await rejection(server.admin.oauth2.deleteTrustedOAuth2JwtGrantIssuer({ id: created.id as string }))).status).toBe(404);
  });

  it('refuses a second trust of the same issuer, subject and key with 409', async () => {
    const body = { issuer: 'https://dup.example', subject: 'bob', jwk: key.public as unknown as SdkJwk, expires_at: IN_A_DAY() };
    await trust(body);
    const conflict = await rejection(trust(body));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toBe('Unable to insert or update resource because a resource with that value exists already');
    // Another subject under the same issuer and key is another trust.
    expect((await trust({ ...body, subject: 'carol' })).status).toBe(201);
  });

  it.each([
    [{ subject: 'a' }, "Field 'issuer' is required."],
    [{ issuer: 'https://i.example' }, "One of 'subject' or 'allow_any_subject' field must be set."],
    [
      { issuer: 'https://i.example', subject: 'a', allow_any_subject: true },
      "Both 'subject' and 'allow_any_subject' fields cannot be set at the same time.",
    ],
    [{ issuer: 'https://i.example', allow_any_subject: true }, "Field 'expires_at' is required."],
    [
      { issuer: 'https://i.example', allow_any_subject: true, expires_at: '2099-01-01T00:00:00Z' },
      "Field 'jwk' must contain JWK with kid header.",
    ],
  ])('answers missing_required_parameter for %j', async (body, hint) => {
    const refused = await rejection(trust({ ...body }));
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      error: 'missing_required_parameter',
      error_description: `One of the required parameters is missing. Check your request parameters. ${hint}`,
    });
  });

  it('refuses shared or private keys, bad times, bad ids and bad page tokens without a 500', async () => {
    const base = { issuer: 'https://i.example', allow_any_subject: true, expires_at: IN_A_DAY() };
    const shared = await raw('POST', PATH, { ...base, jwk: { kty: 'oct', kid: 'k', k: 'c2VjcmV0' } });
    expect(shared.status).toBe(400);
    const badTime = await raw('POST', PATH, { ...base, expires_at: 'tomorrow', jwk: key.public });
    expect(badTime.status).toBe(400);
    expect(((await badTime.json()) as { error: string }).error).toBe('error');
    expect((await raw('POST', PATH, '{not json')).status).toBe(400);
    expect((await raw('POST', PATH, { ...base, scope: 'not-a-list', jwk: key.public })).status).toBe(400);
    // A private key is accepted as its public half only: the private member is never stored.
    const privateOnly = await raw('POST', PATH, { ...base, jwk: { ...key.public, ...key.private, kid: 'with-private' } });
    expect(privateOnly.status).toBe(201);
    const row = await server.registry.database.db
      .selectFrom('jwt_bearer_trusts')
      .select('public_jwk')
      .where('key_id', '=', 'with-private')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(row.public_jwk)).not.toHaveProperty('d');

    const badId = await raw('GET', `${PATH}/not-a-uuid`);
    expect(badId.status).toBe(400);
    expect(await badId.json()).toMatchObject({ error: 'The request was malformed or contained invalid parameters' });
    expect((await raw('DELETE', `${PATH}/not-a-uuid`)).status).toBe(400);
    expect((await raw('GET', `${PATH}?page_token=forged`)).status).toBe(400);
    expect((await raw('GET', `${PATH}?page_size=0`)).status).toBe(400);
  });

  it('pages the list with page_size and the Link header', async () => {
    for (const subject of ['p1', 'p2', 'p3']) {
      await trust({ issuer: 'https://paged.example', subject, jwk: key.public as unknown as SdkJwk, expires_at: IN_A_DAY() });
    }
    const seen: string[] = [];
    let path: string | undefined = `${PATH}?issuer=${encodeURIComponent('https://paged.example')}&page_size=2`;
    while (path) {
      const page = await raw('GET', path);
      expect(page.status).toBe(200);
      for (const item of (await page.json()) as { subject: string }[]) seen.push(item.subject);
      const next = /<([^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '');
      path = next ? `/admin${next[1]?.replace(/^\/admin/, '')}` : undefined;
    }
    expect(seen.sort()).toEqual(['p1', 'p2', 'p3']);
  });

  it("pages through Ory's SDK: pageSize, then the Link header's page_token as pageToken", async () => {
    for (const subject of ['s1', 's2', 's3']) {
      await trust({ issuer: 'https://sdk-paged.example', subject, jwk: key.public as unknown as SdkJwk, expires_at: IN_A_DAY() });
    }
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await server.admin.oauth2.listTrustedOAuth2JwtGrantIssuers({
        issuer: 'https://sdk-paged.example',
        pageSize: 2,
        ...(pageToken === undefined ? {} : { pageToken }),
      });
      pages += 1;
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((item) => item.subject as string));
      const next = /<([^>]+)>; rel="next"/.exec(String(page.headers.link ?? ''));
      pageToken = next ? (new URL(next[1] as string, server.adminUrl).searchParams.get('page_token') ?? undefined) : undefined;
    } while (pageToken !== undefined && pages < 5);
    expect(pages).toBe(2);
    expect(seen.sort()).toEqual(['s1', 's2', 's3']);
  });

  it('the janitor (grants) removes expired trusts and keeps the others', async () => {
    const { data: expired } = await trust({
      issuer: 'https://expired.example',
      allow_any_subject: true,
      jwk: key.public as unknown as SdkJwk,
      expires_at: new Date(Date.now() - 60_000).toISOString(),
    });
    const { data: live } = await trust({
      issuer: 'https://expired.example',
      subject: 'x',
      jwk: key.public as unknown as SdkJwk,
      expires_at: IN_A_DAY(),
    });
    const result = await runJanitor(server.registry.persister, {
      tokens: false,
      requests: false,
      grants: true,
      limit: 100,
      batchSize: 10,
      keepIfYounger: 0,
    });
    expect(result.jwtBearerTrusts).toBeGreaterThanOrEqual(1);
    expect((await rejection(server.admin.oauth2.getTrustedOAuth2JwtGrantIssuer({ id: expired.id as string }))).status).toBe(404);
    expect((await server.admin.oauth2.getTrustedOAuth2JwtGrantIssuer({ id: live.id as string })).status).toBe(200);
  });
});

describe.each(STORES)('JWT-bearer grant (RFC 7523) ($name)', (store) => {
  const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
  const ISSUER = 'https://assertions.example';
  let server: TestServer;
  let key: { public: JWK; private: JWK };
  let tokenUrl: string;
  let auth: Record<string, string>;

  /** An assertion as an issuer signs it with jose; `claims` override or (undefined) drop the defaults. */
  const assertion = (claims: Record<string, unknown> = {}, signer: JWK = key.private, kid = 'grant-key') =>
    signAssertion({ issuer: ISSUER, audience: tokenUrl, signer, kid, claims });
  const exchange = (jwt: string, extra: Record<string, string> = {}) =>
    tokenRequest(server, { grant_type: GRANT, assertion: jwt, ...extra }, auth);

  beforeAll(async () => {
    server = await startTestServer(store);
    key = await issuerKey('grant-key');
    tokenUrl = ((await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as { token_endpoint: string })
      .token_endpoint;
    const { data: client } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: [GRANT, 'client_credentials'],
        scope: 'read write admin',
        token_endpoint_auth_method: 'client_secret_basic',
      },
    });
    auth = { authorization: basicAuth(client.client_id as string, client.client_secret as string) };
    await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
      trustOAuth2JwtGrantIssuer: {
        issuer: ISSUER,
        subject: 'alice',
        scope: ['read', 'write'],
        jwk: key.public as unknown as SdkJwk,
        expires_at: IN_A_DAY(),
      },
    });
  });
  afterAll(() => server?.close());

  it('is advertised, and exchanges a trusted assertion for an access token of its subject', async () => {
    const metadata = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as {
      grant_types_supported: string[];
    };
    expect(metadata.grant_types_supported).toContain(GRANT);
    const answer = await exchange(await assertion(), { scope: 'read' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'bearer', scope: 'read' });
    expect(answer.body).not.toHaveProperty('refresh_token');
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: answer.body.access_token as string });
    expect(data).toMatchObject({ active: true, sub: 'alice', scope: 'read' });
    // The assertion's audience (this server) is not granted (omit_assertion_audience: true by default).
    expect(data.aud ?? []).not.toContain(tokenUrl);
  });

  it('refuses a replayed jti, untrusted issuers, subjects and keys, and scope beyond the trust', async () => {
    const once = await assertion();
    expect((await exchange(once)).status).toBe(200);
    expectOAuthError(await exchange(once), 400, 'jti_known');
    expectOAuthError(await exchange(await assertion({ sub: 'mallory' })), 400, 'invalid_grant');
    expectOAuthError(await exchange(await assertion({ iss: 'https://other.example' })), 400, 'invalid_grant');
    const stranger = await issuerKey('grant-key');
    const forged = await exchange(await assertion({}, stranger.private));
    expectOAuthError(forged, 400, 'invalid_grant');
    expect(forged.body.error_description).toContain("Unable to verify the integrity of the 'assertion' value.");
    const beyond = await exchange(await assertion(), { scope: 'admin' });
    expectOAuthError(beyond, 400, 'invalid_scope');
    expect(beyond.body.error_description).toContain('The public key registered for issuer');
    expectOAuthError(await exchange(await assertion(), { scope: 'delete' }), 400, 'invalid_scope');
    expectOAuthError(await tokenRequest(server, { grant_type: GRANT }, auth), 400, 'invalid_request');
    expectOAuthError(await exchange('not.a.jwt'), 400, 'invalid_grant');
  });

  it('an expired trust grants nothing, and a trust deleted through the SDK stops granting (oauth4webapi as the client)', async () => {
    const as = { issuer: server.config.urls.self.issuer, token_endpoint: tokenUrl };
    const { data: client } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: [GRANT], scope: 'read', token_endpoint_auth_method: 'client_secret_basic' },
    });
    const rp = { client_id: client.client_id as string };
    const grant = async (jwt: string) =>
      oauth.genericTokenEndpointRequest(
        as,
        rp,
        oauth.ClientSecretBasic(client.client_secret as string),
        GRANT,
        new URLSearchParams({ assertion: jwt }),
        {
          [oauth.allowInsecureRequests]: true,
        },
      );
    const expiring = await issuerKey('expiring-key');
    await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
      trustOAuth2JwtGrantIssuer: {
        issuer: 'https://expired-trust.example',
        subject: 'alice',
        scope: ['read'],
        jwk: expiring.public as unknown as SdkJwk,
        expires_at: new Date(Date.now() - 60_000).toISOString(),
      },
    });
    const expiredAnswer = await grant(await assertion({ iss: 'https://expired-trust.example' }, expiring.private, 'expiring-key'));
    expect(expiredAnswer.status).toBe(400);
    expect(((await expiredAnswer.json()) as { error: string }).error).toBe('invalid_grant');

    const deleting = await issuerKey('deleted-key');
    const { data: created } = await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
      trustOAuth2JwtGrantIssuer: {
        issuer: 'https://deleted-trust.example',
        subject: 'alice',
        scope: ['read'],
        jwk: deleting.public as unknown as SdkJwk,
        expires_at: IN_A_DAY(),
      },
    });
    const signed = () => assertion({ iss: 'https://deleted-trust.example' }, deleting.private, 'deleted-key');
    const tokens = await oauth.processGenericTokenEndpointResponse(as, rp, await grant(await signed()));
    expect(tokens.access_token).toMatch(/^ory_at_/);
    await server.admin.oauth2.deleteTrustedOAuth2JwtGrantIssuer({ id: created.id as string });
    const afterDelete = await grant(await signed());
    expect(afterDelete.status).toBe(400);
    expect(((await afterDelete.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('checks aud, exp, nbf, iat, jti and max_ttl as fosite does', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [Record<string, unknown>, string][] = [
      [{ aud: undefined }, 'MUST contain an "aud" (audience) claim.'],
      [{ aud: 'https://elsewhere.example/token' }, 'identifies the authorization server as an intended audience'],
      [{ exp: undefined }, 'MUST contain an "exp" (expiration time) claim.'],
      [{ exp: now - 10 }, 'expired.'],
      [{ nbf: now + 600 }, 'before which the token MUST NOT be accepted.'],
      [{ iat: undefined }, 'MUST contain an "iat" (issued at) claim.'],
      [{ exp: now + 800 * 3600 }, 'that is unreasonably far in the future'],
      [{ jti: undefined }, 'MUST contain an "jti" (JWT ID) claim.'],
    ];
    for (const [claims, hint] of cases) {
      const answer = await exchange(await assertion(claims));
      expectOAuthError(answer, 400, 'invalid_grant');
      expect(answer.body.error_description).toContain(hint);
    }
  });

  it('accepts assertions without jti and iat, and grants their audience, when configured so', async () => {
    const relaxed = await startTestServer(store, {
      env: {
        OAUTH2_GRANT_JWT_JTI_OPTIONAL: 'true',
        OAUTH2_GRANT_JWT_IAT_OPTIONAL: 'true',
        OAUTH2_GRANT_JWT_OMIT_ASSERTION_AUDIENCE: 'false',
      },
    });
    try {
      const relaxedUrl = (
        (await (await fetch(`${relaxed.publicUrl}/.well-known/openid-configuration`)).json()) as { token_endpoint: string }
      ).token_endpoint;
      const { data: client } = await relaxed.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: [GRANT], scope: 'read', audience: [], token_endpoint_auth_method: 'client_secret_basic' },
      });
      await relaxed.admin.oauth2.trustOAuth2JwtGrantIssuer({
        trustOAuth2JwtGrantIssuer: {
          issuer: ISSUER,
          allow_any_subject: true,
          scope: ['read'],
          jwk: key.public as unknown as SdkJwk,
          expires_at: IN_A_DAY(),
        },
      });
      const jwt = await new SignJWT({ iss: ISSUER, sub: 'anyone', aud: relaxedUrl, exp: Math.floor(Date.now() / 1000) + 60 })
        .setProtectedHeader({ alg: 'ES256', kid: 'grant-key' })
        .sign(await importJWK(key.private, 'ES256'));
      const answer = await tokenRequest(
        relaxed,
        { grant_type: GRANT, assertion: jwt },
        {
          authorization: basicAuth(client.client_id as string, client.client_secret as string),
        },
      );
      expect(answer.status).toBe(200);
      const { data } = await relaxed.admin.oauth2.introspectOAuth2Token({ token: answer.body.access_token as string });
      expect(data).toMatchObject({ active: true, sub: 'anyone' });
      expect(data.aud).toContain(relaxedUrl);
    } finally {
      await relaxed.close();
    }
  });

  it("calls the token hook with the jwt-bearer grant, and the hook's claims reach the access token", async () => {
    const received: Array<{ request?: { grant_types?: string[]; payload?: Record<string, unknown> } }> = [];
    const hook = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      request.on('end', () => {
        received.push(JSON.parse(text));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ session: { access_token: { hooked: 'jwt-bearer' }, id_token: {} } }));
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const hooked = await startTestServer(store, { env: { OAUTH2_TOKEN_HOOK: hookUrl } });
    try {
      const hookedUrl = ((await (await fetch(`${hooked.publicUrl}/.well-known/openid-configuration`)).json()) as { token_endpoint: string })
        .token_endpoint;
      const { data: client } = await hooked.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: [GRANT], scope: 'read', token_endpoint_auth_method: 'client_secret_basic' },
      });
      await hooked.admin.oauth2.trustOAuth2JwtGrantIssuer({
        trustOAuth2JwtGrantIssuer: {
          issuer: ISSUER,
          subject: 'alice',
          scope: ['read'],
          jwk: key.public as unknown as SdkJwk,
          expires_at: IN_A_DAY(),
        },
      });
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({ iss: ISSUER, sub: 'alice', aud: hookedUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'grant-key' })
        .sign(await importJWK(key.private, 'ES256'));
      const answer = await tokenRequest(
        hooked,
        { grant_type: GRANT, assertion: jwt, scope: 'read' },
        { authorization: basicAuth(client.client_id as string, client.client_secret as string) },
      );
      expect(answer.status).toBe(200);
      expect(received).toHaveLength(1);
      expect(received[0]?.request?.grant_types).toEqual([GRANT]);
      expect(received[0]?.request?.payload?.assertion).toEqual([jwt]);
      const { data } = await hooked.admin.oauth2.introspectOAuth2Token({ token: answer.body.access_token as string });
      expect(data).toMatchObject({ active: true, sub: 'alice', ext: { hooked: 'jwt-bearer' } });
    } finally {
      await hooked.close();
      await new Promise((resolve) => hook.close(resolve));
    }
  });
});
