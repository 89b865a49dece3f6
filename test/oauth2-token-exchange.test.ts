/**
 * OAuth 2.0 Token Exchange (RFC 8693) at `POST /oauth2/token`, on every store: oauth4webapi as the
 * exchanging client, openid-client signing users in for the subject tokens, jose signing a trusted
 * issuer's JWTs, Ory's SDK for clients, trusts, introspection and consent revocation, fetch for the
 * refusals.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_ENV, relyingParty, signIn } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth, expectOAuthError, type Form, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';
import { grantTypesSupported, issuerKey, trustIssuer } from './support/trust.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPE = {
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  refresh_token: 'urn:ietf:params:oauth:token-type:refresh_token',
  id_token: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
} as const;
const REDIRECT = 'https://rp.example/cb';
const API_A = 'https://api-a.example';
const API_B = 'https://api-b.example';
const ISSUER = 'https://partner-idp.example';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

interface Client {
  id: string;
  secret: string;
}

interface Introspected {
  active: boolean;
  sub?: string;
  client_id?: string;
  scope?: string;
  aud?: string[];
  exp?: number;
  ext?: Record<string, unknown>;
  act?: Record<string, unknown>;
}

describe.each(STORES)('token exchange (RFC 8693) ($name)', (store) => {
  let server: TestServer;
  const clock = new TestClock();
  let rp: Client;
  let svc: Client;
  let jwtRp: Client;
  let plain: Client;
  let publicId: string;
  let key: { public: JWK; private: JWK };
  let tokenUrl: string;

  async function createClient(on: TestServer, body: Record<string, unknown>): Promise<Client> {
    const { data } = await on.admin.oauth2.createOAuth2Client({
      oAuth2Client: { token_endpoint_auth_method: 'client_secret_basic', ...body },
    });
    return { id: data.client_id as string, secret: data.client_secret as string };
  }

  /** The exchange as a real client sends it: oauth4webapi's generic token endpoint request and response processing. */
  async function exchange(client: Client, parameters: Record<string, string>, on: TestServer = server) {
    const as: oauth.AuthorizationServer = { issuer: on.config.urls.self.issuer, token_endpoint: `${on.publicUrl}/oauth2/token` };
    const response = await oauth.genericTokenEndpointRequest(
      as,
      { client_id: client.id },
      oauth.ClientSecretBasic(client.secret),
      GRANT,
      parameters,
      insecure,
    );
    return (await oauth.processGenericTokenEndpointResponse(as, { client_id: client.id }, response)) as oauth.TokenEndpointResponse & {
      issued_token_type?: string;
    };
  }
  /** The same request by hand, for the refusals. */
  const raw = (client: Client, form: Form, on: TestServer = server) =>
    tokenRequest(on, { grant_type: GRANT, ...form }, { authorization: basicAuth(client.id, client.secret) });

  async function introspect(token: string, on: TestServer = server): Promise<Introspected> {
    return (await on.admin.oauth2.introspectOAuth2Token({ token })).data as Introspected;
  }

  async function clientToken(client: Client, scope: string, on: TestServer = server): Promise<string> {
    const answer = await tokenRequest(
      on,
      { grant_type: 'client_credentials', scope },
      { authorization: basicAuth(client.id, client.secret) },
    );
    expect(answer.status).toBe(200);
    return answer.body.access_token as string;
  }

  /** A user (alice) signed in to `rp` through the code flow: her access and ID tokens. */
  async function userTokens(consentAccessToken?: Record<string, unknown>) {
    const { tokens } = await signIn(server, relyingParty(server, rp.id, rp.secret), REDIRECT, {
      extra: { scope: 'openid read write', audience: `${API_A} ${svc.id}` },
      ...(consentAccessToken ? { choices: { consent: { access_token: consentAccessToken } } } : {}),
    });
    return { accessToken: tokens.access_token, idToken: tokens.id_token as string };
  }

  /** A JWT of the trusted partner issuer, signed with jose. */
  async function partnerJwt(claims: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(clock.now() / 1000);
    const payload = Object.fromEntries(
      Object.entries({ iss: ISSUER, sub: 'bob', aud: tokenUrl, iat: now, exp: now + 300, ...claims }).filter(([, v]) => v !== undefined),
    );
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'partner-key' }).sign(await importJWK(key.private, 'ES256'));
  }

  beforeAll(async () => {
    server = await startTestServer(store, {
      clock,
      env: {
        ...FLOW_ENV,
        OAUTH2_TOKEN_EXCHANGE_SUBJECT_TOKEN_TYPES: `${TYPE.access_token},${TYPE.jwt},${TYPE.id_token}`,
      },
    });
    tokenUrl = `${server.publicUrl}/oauth2/token`;
    const exchanging = ['client_credentials', GRANT];
    svc = await createClient(server, { grant_types: exchanging, scope: 'read write admin', audience: [API_B] });
    rp = await createClient(server, {
      grant_types: ['authorization_code', 'refresh_token', ...exchanging],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid read write',
      // svc's id too: alice's tokens name it as an audience.
      audience: [API_A, API_B, svc.id],
    });
    jwtRp = await createClient(server, { grant_types: exchanging, scope: 'read write', audience: [API_B], access_token_strategy: 'jwt' });
    plain = await createClient(server, { grant_types: ['client_credentials'], scope: 'read' });
    publicId = (
      await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['authorization_code', GRANT], token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT] },
      })
    ).data.client_id as string;
    key = await issuerKey('partner-key');
    await trustIssuer(server, ISSUER, key.public, { allow_any_subject: true }, ['read']);
  });
  afterAll(() => server?.close());

  it('is advertised, and the client model accepts the grant type', async () => {
    expect(await grantTypesSupported(server)).toContain(GRANT);
    const { data } = await server.admin.oauth2.getOAuth2Client({ id: svc.id });
    expect(data.grant_types).toEqual(['client_credentials', GRANT]);
  });

  it('impersonation: exchanges a user’s access token for a narrower one, without a refresh token, never outliving it', async () => {
    const user = await userTokens();
    const answer = await exchange(rp, {
      subject_token: user.accessToken,
      subject_token_type: TYPE.access_token,
      scope: 'read',
      audience: API_B,
    });
    expect(answer.issued_token_type).toBe(TYPE.access_token);
    expect(answer.token_type).toBe('bearer');
    expect(answer.scope).toBe('read');
    expect(answer.refresh_token).toBeUndefined();
    expect(answer.access_token.startsWith('ory_at_')).toBe(true);
    const subject = await introspect(user.accessToken);
    expect(answer.expires_in).toBeLessThanOrEqual((subject.exp as number) - Math.floor(clock.now() / 1000) + 1);
    const issued = await introspect(answer.access_token);
    expect(issued).toMatchObject({ active: true, sub: 'alice', client_id: rp.id, scope: 'read', aud: [API_B], ext: { tier: 'gold' } });
    expect(issued.act).toBeUndefined();

    // Nothing asked: the subject token's scope (as far as the client's goes), and no audience.
    const whole = await exchange(rp, { subject_token: user.accessToken, subject_token_type: TYPE.access_token });
    expect(whole.scope?.split(' ').sort()).toEqual(['openid', 'read', 'write']);
    expect((await introspect(whole.access_token)).aud).toEqual([]);
    // `resource` (RFC 8707) joins the audience.
    const withResource = await exchange(rp, { subject_token: user.accessToken, subject_token_type: TYPE.access_token, resource: API_A });
    expect((await introspect(withResource.access_token)).aud).toEqual([API_A]);
  });

  it('delegation: the actor goes into act, nested over the subject token’s own act, in opaque and JWT access tokens', async () => {
    const user = await userTokens();
    const actorToken = await clientToken(rp, 'read');
    const delegated = await exchange(rp, {
      subject_token: user.accessToken,
      subject_token_type: TYPE.access_token,
      actor_token: actorToken,
      actor_token_type: TYPE.access_token,
      scope: 'read write',
    });
    const first = await introspect(delegated.access_token);
    expect(first).toMatchObject({ active: true, sub: 'alice', act: { sub: rp.id } });

    // The delegated token exchanged again, a partner's agent acting now: the earlier actor nests below.
    const again = await exchange(rp, {
      subject_token: delegated.access_token,
      subject_token_type: TYPE.access_token,
      actor_token: await partnerJwt({ sub: 'agent-7' }),
      actor_token_type: TYPE.jwt,
      scope: 'read',
      requested_token_type: TYPE.jwt,
    });
    expect(again.issued_token_type).toBe(TYPE.jwt);
    const chain = { sub: 'agent-7', iss: ISSUER, act: { sub: rp.id } };
    expect((await introspect(again.access_token)).act).toEqual(chain);
    // Asked for a JWT, the client gets an RFC 9068 access token carrying the chain, verifiable with the server's keys.
    const { payload } = await jwtVerify(again.access_token, createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`)), {
      issuer: server.config.urls.self.issuer,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: 'alice', client_id: rp.id, act: chain, scp: ['read'] });

    // A client whose format is JWT gets one for access_token too; its act is in the JWT.
    const ownCc = await clientToken(jwtRp, 'read write');
    const jwtAnswer = await exchange(jwtRp, {
      subject_token: ownCc,
      subject_token_type: TYPE.access_token,
      actor_token: await partnerJwt({ sub: 'agent-8' }),
      actor_token_type: TYPE.jwt,
      scope: 'write',
    });
    expect(jwtAnswer.issued_token_type).toBe(TYPE.access_token);
    expect(decodeJwt(jwtAnswer.access_token)).toMatchObject({ sub: jwtRp.id, act: { sub: 'agent-8', iss: ISSUER }, scp: ['write'] });
  });

  it('may_act (§4.4): only the named actor may act for the subject, and may_act is not copied on', async () => {
    const user = await userTokens({ tier: 'silver', may_act: { sub: 'agent-7', iss: ISSUER } });
    const base = { subject_token: user.accessToken, subject_token_type: TYPE.access_token };
    const allowed = await exchange(rp, { ...base, actor_token: await partnerJwt({ sub: 'agent-7' }), actor_token_type: TYPE.jwt });
    const issued = await introspect(allowed.access_token);
    expect(issued.act).toEqual({ sub: 'agent-7', iss: ISSUER });
    expect(issued.ext).toEqual({ tier: 'silver' });

    const other = await raw(rp, { ...base, actor_token: await partnerJwt({ sub: 'agent-9' }), actor_token_type: TYPE.jwt });
    expectOAuthError(other, 400, 'invalid_request');
    expect(other.body.error_description).toContain('"may_act"');
    // Neither is an actor of this server's that may_act does not name.
    const ownActor = await raw(rp, { ...base, actor_token: await clientToken(rp, 'read'), actor_token_type: TYPE.access_token });
    expectOAuthError(ownActor, 400, 'invalid_request');
    // Without an actor token the client itself acts, and may_act does not name it.
    expectOAuthError(await raw(rp, base), 400, 'invalid_request');

    // may_act naming the client (this server's, by default) allows its impersonation.
    const named = await userTokens({ may_act: { sub: rp.id } });
    const mine = await exchange(rp, { subject_token: named.accessToken, subject_token_type: TYPE.access_token, scope: 'read' });
    expect((await introspect(mine.access_token)).sub).toBe('alice');
  });

  it('exchanges this server’s ID tokens (issued to the client) and trusted issuers’ JWTs within their trust', async () => {
    const user = await userTokens();
    const fromId = await exchange(rp, { subject_token: user.idToken, subject_token_type: TYPE.id_token, scope: 'read' });
    expect(await introspect(fromId.access_token)).toMatchObject({ active: true, sub: 'alice', client_id: rp.id, scope: 'read' });
    // Nothing asked: an ID token carries no scope, so none is granted.
    expect((await exchange(rp, { subject_token: user.idToken, subject_token_type: TYPE.id_token })).scope).toBe('');
    // Another client may not present rp's ID token (token_owner: same_client).
    expectOAuthError(
      await raw(svc, { subject_token: user.idToken, subject_token_type: TYPE.id_token, scope: 'read' }),
      400,
      'invalid_request',
    );

    const fromJwt = await exchange(svc, {
      subject_token: await partnerJwt({ aud: server.config.urls.self.issuer }),
      subject_token_type: TYPE.jwt,
      scope: 'read',
      audience: API_B,
    });
    expect(await introspect(fromJwt.access_token)).toMatchObject({ active: true, sub: 'bob', client_id: svc.id, aud: [API_B] });
    // A JWT is not spent: exchanged twice.
    const twice = await partnerJwt();
    await exchange(svc, { subject_token: twice, subject_token_type: TYPE.jwt, scope: 'read' });
    expect((await exchange(svc, { subject_token: twice, subject_token_type: TYPE.jwt })).scope).toBe('');

    const refusals: [Record<string, unknown>, string, string][] = [
      [{}, 'invalid_scope', 'write'],
      [{ iss: 'https://stranger.example' }, 'invalid_request', 'read'],
      [{ exp: Math.floor(clock.now() / 1000) - 10 }, 'invalid_request', 'read'],
      [{ aud: 'https://elsewhere.example' }, 'invalid_request', 'read'],
      [{ aud: undefined }, 'invalid_request', 'read'],
    ];
    for (const [claims, error, scope] of refusals) {
      const answer = await raw(svc, { subject_token: await partnerJwt(claims), subject_token_type: TYPE.jwt, scope });
      expectOAuthError(answer, 400, error);
    }
    const forged = await new SignJWT({ iss: ISSUER, sub: 'bob', aud: tokenUrl, iat: 1, exp: 2 })
      .setProtectedHeader({ alg: 'ES256', kid: 'partner-key' })
      .sign((await generateKeyPair('ES256')).privateKey);
    const answer = await raw(svc, { subject_token: forged, subject_token_type: TYPE.jwt });
    expectOAuthError(answer, 400, 'invalid_request');
    expect(answer.body.error_description).toContain("Unable to verify the integrity of the 'subject_token' value.");
  });

  it('narrows: scope within the subject token’s and the client’s, audience and resource within the client’s', async () => {
    const subject = await clientToken(svc, 'read');
    const base = { subject_token: subject, subject_token_type: TYPE.access_token };
    expectOAuthError(await raw(svc, { ...base, scope: 'write' }), 400, 'invalid_scope');
    expectOAuthError(await raw(svc, { ...base, scope: 'delete' }), 400, 'invalid_scope');
    const target = await raw(svc, { ...base, audience: API_A });
    expectOAuthError(target, 400, 'invalid_target');
    expectOAuthError(await raw(svc, { ...base, resource: API_A }), 400, 'invalid_target');
    expectOAuthError(await raw(svc, { ...base, resource: 'relative/path' }), 400, 'invalid_target');
    expectOAuthError(await raw(svc, { ...base, resource: `${API_B}#fragment` }), 400, 'invalid_target');
    const ok = await exchange(svc, { ...base, resource: `${API_B}/orders` });
    expect((await introspect(ok.access_token)).aud).toEqual([`${API_B}/orders`]);
  });

  it('refuses bad requests with the RFC’s errors', async () => {
    const subject = await clientToken(svc, 'read');
    const base = { subject_token: subject, subject_token_type: TYPE.access_token };
    const cases: [Form, string][] = [
      [{ subject_token_type: TYPE.access_token }, 'invalid_request'],
      [{ subject_token: subject }, 'invalid_request'],
      [{ subject_token: subject, subject_token_type: TYPE.saml2 }, 'invalid_request'],
      [{ subject_token: subject, subject_token_type: 'urn:example:unknown' }, 'invalid_request'],
      [{ ...base, subject_token: [subject, subject] }, 'invalid_request'],
      [{ ...base, actor_token: subject }, 'invalid_request'],
      [{ ...base, actor_token_type: TYPE.access_token }, 'invalid_request'],
      [{ ...base, actor_token: 'not-a-token', actor_token_type: TYPE.access_token }, 'invalid_request'],
      [{ ...base, requested_token_type: TYPE.refresh_token }, 'invalid_request'],
      [{ ...base, requested_token_type: TYPE.id_token }, 'invalid_request'],
      [{ ...base, requested_token_type: 'urn:example:unknown' }, 'invalid_request'],
      [{ subject_token: 'ory_at_forged.forged', subject_token_type: TYPE.access_token }, 'invalid_request'],
      [{ subject_token: 'a.b.c', subject_token_type: TYPE.jwt }, 'invalid_request'],
      [{ subject_token: 'a.b.c', subject_token_type: TYPE.id_token }, 'invalid_request'],
      // A token of another client (token_owner: same_client).
      [{ subject_token: await clientToken(rp, 'read'), subject_token_type: TYPE.access_token }, 'invalid_request'],
      [{ ...base, actor_token: await clientToken(rp, 'read'), actor_token_type: TYPE.access_token }, 'invalid_request'],
    ];
    for (const [form, error] of cases) expectOAuthError(await raw(svc, form), 400, error);
    expectOAuthError(await raw(plain, base), 400, 'unauthorized_client');
    const publicAnswer = await tokenRequest(server, { grant_type: GRANT, client_id: publicId, ...base });
    expectOAuthError(publicAnswer, 400, 'unauthorized_client');
    expectOAuthError(await tokenRequest(server, { grant_type: GRANT, ...base }), 401, 'invalid_client');
  });

  it('stores the result like any access token: revocable by its client; the subject token stays; a consent revocation ends both', async () => {
    const user = await userTokens();
    const answer = await exchange(rp, { subject_token: user.accessToken, subject_token_type: TYPE.access_token, scope: 'read' });
    const revoke = await fetch(`${server.publicUrl}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(rp.id, rp.secret) },
      body: new URLSearchParams({ token: answer.access_token }),
    });
    expect(revoke.status).toBe(200);
    expect((await introspect(answer.access_token)).active).toBe(false);
    expect((await introspect(user.accessToken)).active).toBe(true);
    // A revoked token can no longer be exchanged.
    expectOAuthError(await raw(rp, { subject_token: answer.access_token, subject_token_type: TYPE.access_token }), 400, 'invalid_request');

    // The exchanged token is a grant of its own: revoking the subject token leaves it (its lifetime is capped by the subject's)...
    const second = await exchange(rp, { subject_token: user.accessToken, subject_token_type: TYPE.access_token, scope: 'read' });
    const third = await exchange(svc, {
      subject_token: await clientToken(svc, 'read'),
      subject_token_type: TYPE.access_token,
      scope: 'read',
    });
    // ...but it keeps the consent it derives from: revoking alice's consent to rp ends it too.
    await server.admin.oauth2.revokeOAuth2ConsentSessions({ subject: 'alice', client: rp.id });
    expect((await introspect(user.accessToken)).active).toBe(false);
    expect((await introspect(second.access_token)).active).toBe(false);
    expect((await introspect(third.access_token)).active).toBe(true);
  });

  // Last: moves the server's clock past the ID tokens' lifetime.
  it('refuses an expired ID token, which id_token_hint would still accept', async () => {
    const user = await userTokens();
    clock.advance(2 * 3_600_000);
    const expired = await raw(rp, { subject_token: user.idToken, subject_token_type: TYPE.id_token, scope: 'read' });
    expectOAuthError(expired, 400, 'invalid_request');
    expect(expired.body.error_description).toContain('expired');
  });
});

describe.each(STORES)('token exchange policy settings ($name)', (store) => {
  it('token_owner=audience lets a resource server exchange the tokens it receives; impersonation can be refused; ID tokens are off by default', async () => {
    const server = await startTestServer(store, {
      env: { OAUTH2_TOKEN_EXCHANGE_TOKEN_OWNER: 'audience', OAUTH2_TOKEN_EXCHANGE_ALLOW_IMPERSONATION: 'false' },
    });
    try {
      const make = async (body: Record<string, unknown>) => {
        const { data } = await server.admin.oauth2.createOAuth2Client({
          oAuth2Client: { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials', GRANT], ...body },
        });
        return { id: data.client_id as string, secret: data.client_secret as string };
      };
      const api = await make({ scope: 'read' });
      const front = await make({ scope: 'read', audience: [api.id] });
      const auth = (c: Client) => ({ authorization: basicAuth(c.id, c.secret) });
      const frontToken = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read', audience: api.id }, auth(front)))
        .body.access_token as string;
      const apiToken = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read' }, auth(api))).body
        .access_token as string;
      const base = { grant_type: GRANT, subject_token: frontToken, subject_token_type: TYPE.access_token };
      // Impersonation refused: an actor token is required.
      expectOAuthError(await tokenRequest(server, base, auth(api)), 400, 'invalid_request');
      const delegated = await tokenRequest(server, { ...base, actor_token: apiToken, actor_token_type: TYPE.access_token }, auth(api));
      expect(delegated.status).toBe(200);
      const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: delegated.body.access_token as string });
      expect(data).toMatchObject({ sub: front.id, client_id: api.id });
      expect((data as Introspected).act).toEqual({ sub: api.id });
      // A token not naming the client is still refused.
      const unnamed = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read' }, auth(front))).body
        .access_token as string;
      expectOAuthError(
        await tokenRequest(
          server,
          { ...base, subject_token: unnamed, actor_token: apiToken, actor_token_type: TYPE.access_token },
          auth(api),
        ),
        400,
        'invalid_request',
      );
      // ID tokens are not a default subject token type.
      expectOAuthError(await tokenRequest(server, { ...base, subject_token_type: TYPE.id_token }, auth(api)), 400, 'invalid_request');
    } finally {
      await server.close();
    }
  });

  it('enabled=false: the grant type is unsupported and not advertised', async () => {
    const server = await startTestServer(store, { env: { OAUTH2_TOKEN_EXCHANGE_ENABLED: 'false' } });
    try {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials', GRANT], scope: 'read' },
      });
      const auth = { authorization: basicAuth(data.client_id as string, data.client_secret as string) };
      const token = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read' }, auth)).body.access_token as string;
      const answer = await tokenRequest(server, { grant_type: GRANT, subject_token: token, subject_token_type: TYPE.access_token }, auth);
      expectOAuthError(answer, 400, 'unsupported_grant_type');
      expect(await grantTypesSupported(server)).not.toContain(GRANT);
    } finally {
      await server.close();
    }
  });

  it('calls the token hook for the grant; its claims go into the token, the act stays', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const hook = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => {
        text += chunk;
      });
      request.on('end', () => {
        const body = JSON.parse(text) as { request: { grant_types: string[] } };
        seen.push(body);
        if (body.request.grant_types[0] !== GRANT) {
          response.writeHead(204).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ session: { access_token: { hooked: true, act: { sub: 'forged' } } } }));
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const server = await startTestServer(store, {
      env: {
        OAUTH2_TOKEN_HOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
        STRATEGIES_ACCESS_TOKEN: 'jwt',
        OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS: 'hooked,act',
      },
    });
    try {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials', GRANT], scope: 'read' },
      });
      const auth = { authorization: basicAuth(data.client_id as string, data.client_secret as string) };
      const subject = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read' }, auth)).body.access_token as string;
      const actor = (await tokenRequest(server, { grant_type: 'client_credentials', scope: 'read' }, auth)).body.access_token as string;
      const answer = await tokenRequest(
        server,
        {
          grant_type: GRANT,
          subject_token: subject,
          subject_token_type: TYPE.access_token,
          actor_token: actor,
          actor_token_type: TYPE.access_token,
        },
        auth,
      );
      expect(answer.status).toBe(200);
      const last = seen.at(-1) as { request: { grant_types: string[]; payload: Record<string, string[]> } };
      expect(last.request.grant_types).toEqual([GRANT]);
      // The hook is never shown the tokens themselves.
      expect(JSON.stringify(last)).not.toContain(subject);
      const claims = decodeJwt(answer.body.access_token as string);
      // The hook's claims are promoted, but a hook cannot forge the actor.
      expect(claims).toMatchObject({ hooked: true, act: { sub: data.client_id } });
    } finally {
      await server.close();
      await new Promise((resolve) => hook.close(resolve));
    }
  });
});
