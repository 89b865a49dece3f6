/**
 * The Dynamic OP plan: discovery, clients registered at the registration endpoint (RFC 7591) with
 * private_key_jwt, and each deleted at the end (RFC 7592). Documents the suite would host (jwks_uri,
 * sector_identifier_uri, request_uri) are served on loopback; the server runs in dev mode, with
 * private addresses allowed for self-registered clients.
 */
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../support/clock.js';
import { STORES } from '../support/stores.js';
import { plan } from './support/catalogue.js';
import { verifyDiscovery } from './support/discovery-checks.js';
import { type ConformanceClient, ConformanceOp, REDIRECT_URI, rsaKey, unsignedRequestObject } from './support/harness.js';
import { acceptedWarning, suiteTitle } from './support/report.js';

const DYNAMIC = plan('dynamic');
const SCOPES = 'openid offline_access profile email address phone';

describe.each(STORES)(suiteTitle(DYNAMIC, 'private_key_jwt, dynamic client, code'), (store) => {
  const clock = new TestClock();
  let op: ConformanceOp;
  /** Clients registered by the current test, deleted after it as the suite does. */
  let registered: ConformanceClient[] = [];

  beforeAll(async () => {
    op = await ConformanceOp.start(
      store,
      {
        OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOW_PRIVATE_IP_RANGES: 'true',
        OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_SCOPES: SCOPES.replace(/ /g, ','),
      },
      { clock },
    );
  });
  afterEach(async () => {
    // RFC 7592 DELETE of every client the module registered (a warning only in the suite; we expect 204).
    for (const client of registered) expect(await op.deleteDynamicClient(client)).toBe(204);
    registered = [];
  });
  afterAll(() => op?.close());

  async function register(metadata: Record<string, unknown> = {}): Promise<ConformanceClient> {
    const client = await op.dynamicClient({ token_endpoint_auth_method: 'private_key_jwt', scope: SCOPES, ...metadata });
    registered.push(client);
    return client;
  }

  it('oidcc-idtoken-rs256: a client asking for RS256 ID tokens gets them', async () => {
    const client = await register({ id_token_signed_response_alg: 'RS256' });
    const signed = await op.signIn(client);
    expect(JSON.parse(Buffer.from(signed.idTokenJwt.split('.')[0] as string, 'base64url').toString('utf8')).alg).toBe('RS256');
  });

  it('oidcc-idtoken-unsigned: discovery does not offer none, so the suite skips the module (its own rule); registering it is refused', async () => {
    expect(op.discovery.id_token_signing_alg_values_supported).not.toContain('none');
    const refused = await op.refusedRegistration({ id_token_signed_response_alg: 'none' });
    expect(refused.body.error).toBe('invalid_client_metadata');
  });

  it('oidcc-userinfo-rs256: userinfo_signed_response_alg=RS256 gives a signed userinfo JWT', async () => {
    const client = await register({ userinfo_signed_response_alg: 'RS256' });
    const signed = await op.signIn(client, { scope: 'openid email' });
    const answer = await op.userinfo(signed.accessToken as string);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/jwt/);
    const { payload, protectedHeader } = await jwtVerify(answer.text, createLocalJWKSet(op.jwks), {
      issuer: op.issuer,
      audience: client.id,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(signed.idToken.sub);
  });

  it('oidcc-ensure-redirect-uri-in-authorization-request: two redirect URIs and none in the request: error page', async () => {
    const client = await register({ redirect_uris: [REDIRECT_URI, `${REDIRECT_URI}/second`] });
    const { params } = op.authorizationRequest(client);
    delete params.redirect_uri;
    await op.expectErrorPage(params);
  });

  it('oidcc-redirect-uri-query-OK: a registered redirect URI with a query works, the query kept', async () => {
    const client = await register({ redirect_uris: [`${REDIRECT_URI}?foo=bar`] });
    const { params, verifier } = op.authorizationRequest(client);
    const outcome = await op.authorizeToClient(params);
    expect(new URL(outcome.url).searchParams.get('foo')).toBe('bar');
    await op.complete(client, params, verifier, outcome.params);
  });

  it('oidcc-redirect-uri-query-mismatch: another query than the registered one: error page', async () => {
    const client = await register({ redirect_uris: [`${REDIRECT_URI}?foo=bar`] });
    const { params } = op.authorizationRequest(client, { redirect_uri: `${REDIRECT_URI}?foo=baz` });
    await op.expectErrorPage(params);
  });

  it('oidcc-redirect-uri-query-added: a query added to a query-less registered URI: error page', async () => {
    const client = await register();
    const { params } = op.authorizationRequest(client, { redirect_uri: `${REDIRECT_URI}?foo=bar` });
    await op.expectErrorPage(params);
  });

  it('oidcc-redirect-uri-regfrag: a redirect URI with a fragment is refused at registration', async () => {
    const refused = await op.refusedRegistration({ redirect_uris: [`${REDIRECT_URI}#fragment`] });
    expect(refused.body.error).toBe('invalid_redirect_uri');
  });

  it('oidcc-discovery-endpoint-verification: the required values are present and consistent', async () => {
    await verifyDiscovery(op);
  });

  it('oidcc-server: the happy path with a dynamically registered private_key_jwt client', async () => {
    const client = await register();
    const signed = await op.signIn(client, { scope: 'openid email' });
    await op.userinfoClaims(signed.accessToken as string, signed.idToken.sub as string);
  });

  for (const [field, module] of [
    ['logo_uri', 'oidcc-registration-logo-uri'],
    ['policy_uri', 'oidcc-registration-policy-uri'],
    ['tos_uri', 'oidcc-registration-tos-uri'],
  ] as const) {
    it(`${module}: ${field} is accepted and handed to the login app with the login request`, async (context) => {
      const value = `https://rp.conformance.example/${field}`;
      const client = await register({ [field]: value });
      expect(client.metadata[field]).toBe(value);
      let shown: unknown;
      await op.signIn(
        client,
        {},
        {
          onLoginRequest: (request) => {
            shown = (request.client as Record<string, unknown>)[field];
          },
        },
      );
      expect(shown).toBe(value);
      acceptedWarning(
        context,
        `the login request's client carries ${field}; showing it is the login app's part (the suite checks it by eye)`,
      );
    });
  }

  it('oidcc-registration-jwks-uri: a client registered with jwks_uri authenticates with private_key_jwt', async () => {
    const key = await rsaKey();
    const jwksUri = await op.serve(`/jwks-${key.kid}`, JSON.stringify({ keys: [key.publicJwk] }));
    const client = await register({ jwks_uri: jwksUri });
    client.signingKey = { privateJwk: key.privateJwk, kid: key.kid, alg: 'RS256' };
    await op.signIn(client);
  });

  it('oidcc-registration-sector-uri: a sector_identifier_uri listing the redirect URI is accepted', async () => {
    const sector = await op.serve('/sector-good.json', JSON.stringify([REDIRECT_URI]));
    const client = await register({ sector_identifier_uri: sector });
    expect(client.metadata.sector_identifier_uri).toBe(sector);
    await op.signIn(client);
  });

  it('oidcc-registration-sector-bad: a sector document without the redirect URI is refused', async () => {
    const sector = await op.serve('/sector-bad.json', JSON.stringify(['https://elsewhere.example/cb']));
    const refused = await op.refusedRegistration({ sector_identifier_uri: sector });
    expect(refused.body.error).toBe('invalid_client_metadata');
  });

  it('oidcc-server-rotate-keys: after a rotation the JWKS has the new key and still the old one; new ID tokens verify', async () => {
    const client = await register();
    const before = await op.signIn(client);
    const oldKid = JSON.parse(Buffer.from(before.idTokenJwt.split('.')[0] as string, 'base64url').toString('utf8')).kid;
    const { data } = await op.server.admin.jwk.createJsonWebKeySet({
      set: 'hydra.openid.id-token',
      createJsonWebKeySet: { alg: 'RS256', use: 'sig', kid: '' },
    });
    const newKid = data.keys?.[0]?.kid as string;
    expect(newKid).not.toBe(oldKid);
    const jwks = await op.refreshJwks();
    expect(jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    const after = await op.signIn(client);
    const usedKid = JSON.parse(Buffer.from(after.idTokenJwt.split('.')[0] as string, 'base64url').toString('utf8')).kid;
    expect(usedKid, 'new ID tokens are signed with the newest key').toBe(newKid);
  });

  it('oidcc-refresh-token-rp-key-rotation: after the RP rotates its jwks_uri key, a refresh with the new kid works', async () => {
    const first = await rsaKey();
    const path = `/rotating-${first.kid}`;
    const jwksUri = await op.serve(path, JSON.stringify({ keys: [first.publicJwk] }));
    const client = await register({ jwks_uri: jwksUri });
    client.signingKey = { privateJwk: first.privateJwk, kid: first.kid, alg: 'RS256' };
    const signed = await op.signIn(client, { scope: 'openid offline_access', prompt: 'consent' });
    const second = await rsaKey();
    await op.serve(path, JSON.stringify({ keys: [second.publicJwk] }));
    client.signingKey = { privateJwk: second.privateJwk, kid: second.kid, alg: 'RS256' };
    clock.advance(60_000); // the suite waits about a minute before using the new key
    const refreshed = await op.token(client, { grant_type: 'refresh_token', refresh_token: signed.tokens?.refresh_token as string });
    expect(refreshed.status, refreshed.text).toBe(200);
    await op.checkIdToken(client, refreshed.body.id_token as string);
  });

  /**
   * A sign-in whose request object the suite serves at a request_uri the client registered, with the
   * client's `request_object_signing_alg`; `objectOf` makes the object from the request's parameters.
   */
  async function signInByRequestUri(
    path: string,
    alg: 'none' | 'RS256',
    objectOf: (client: ConformanceClient, params: Record<string, string>) => Promise<string>,
  ) {
    const requestUri = await op.serve(path, '', 'application/oauth-authz-req+jwt');
    const client = await register({ request_object_signing_alg: alg, request_uris: [requestUri] });
    const request = op.authorizationRequest(client);
    await op.serve(path, await objectOf(client, request.params), 'application/oauth-authz-req+jwt');
    const { signed } = await op.signInWithRequestObject(client, request, { request_uri: requestUri });
    expect(signed.idToken.nonce, "the object's nonce was used").toBe(request.params.nonce);
  }

  it('oidcc-request-uri-unsigned: an unsigned request object at a registered request_uri works', () =>
    signInByRequestUri('/dynamic-request-unsigned', 'none', async (_client, params) => unsignedRequestObject(params)));

  it("oidcc-request-uri-signed-rs256: a request object signed with the client's RS256 key at a request_uri works", () =>
    signInByRequestUri('/dynamic-request-signed', 'RS256', async (client, params) => {
      const key = client.signingKey as NonNullable<ConformanceClient['signingKey']>;
      return new SignJWT(params)
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'oauth-authz-req+jwt' })
        .setIssuer(client.id)
        .setAudience(op.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(key.privateJwk, 'RS256'));
    }));

  it('oidcc-ensure-request-object-with-redirect-uri: redirect_uri only inside the request object is used', async () => {
    const client = await register({ request_object_signing_alg: 'none' });
    const request = op.authorizationRequest(client);
    const { url } = await op.signInWithRequestObject(client, request, { request: unsignedRequestObject(request.params) });
    expect(url.startsWith(REDIRECT_URI)).toBe(true);
  });

  it('oidcc-refresh-token: offline_access gives a refresh token that works for its client only', async () => {
    const client = await register();
    const other = await register();
    const signed = await op.signIn(client, { scope: 'openid offline_access', prompt: 'consent' });
    const refresh = signed.tokens?.refresh_token as string;
    const stolen = await op.token(other, { grant_type: 'refresh_token', refresh_token: refresh });
    expect(stolen.status).toBe(400);
    const refreshed = await op.token(client, { grant_type: 'refresh_token', refresh_token: refresh });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect((await op.checkIdToken(client, refreshed.body.id_token as string)).sub).toBe(signed.idToken.sub);
  });

  it('oidcc-ensure-client-assertion-with-iss-aud-succeeds: a client assertion with the issuer as aud is accepted', async (context) => {
    const client = await register();
    const { params, verifier } = op.authorizationRequest(client);
    const outcome = await op.authorizeToClient(params);
    const answer = await op.token(
      client,
      { grant_type: 'authorization_code', code: outcome.params.get('code') as string, redirect_uri: REDIRECT_URI, code_verifier: verifier },
      op.issuer,
    );
    expect(answer.status, answer.text).toBe(200);
    acceptedWarning(context, 'accepted: the issuer is a valid aud for client assertions');
  });
});
