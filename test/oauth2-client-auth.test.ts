/**
 * private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9) at the token
 * endpoint: keys registered in `jwks` or served from a `jwks_uri`, audience, expiry, single-use
 * `jti`, signing algorithm, and the registered-method rule — on both stores.
 */
import { generateKeyPairSync as generateRsaKeyPair, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuth2Client } from '@ory/hydra-client';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from './support/clock.js';
import { basicAuth, expectOAuthError, sdkJwks, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
/** fosite's description, alone: what every refusal says before the caller proved it is the client. */
const GENERIC_INVALID_CLIENT =
  'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).';

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(alg: string, kid: string, jwkAlg?: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', ...(jwkAlg ? { alg: jwkAlg } : {}) };
  return { privateKey, publicJwk };
}

interface AssertionOptions {
  alg?: string;
  kid?: string;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  jti?: string | null;
}

async function assertion(key: KeyPair, clientId: string, audience: string, options: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? (key.publicJwk.kid as string) })
    .setIssuer(options.iss ?? clientId)
    .setSubject(options.sub ?? clientId)
    .setAudience(options.aud ?? audience)
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 60);
  if (options.jti !== null) jwt = jwt.setJti(options.jti ?? randomUUID());
  return jwt.sign(key.privateKey);
}

describe.each(STORES)('private_key_jwt client authentication ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let tokenUrl: string;
  let key: KeyPair;
  let client: OAuth2Client & { client_id: string };

  const createClient = async (input: OAuth2Client) =>
    (
      await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['client_credentials'], scope: 'read', token_endpoint_auth_method: 'private_key_jwt', ...input },
      })
    ).data as OAuth2Client & { client_id: string; client_secret?: string };

  const withAssertion = (signed: string, extra: Record<string, string> = {}) =>
    tokenRequest(server, { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: signed, ...extra });

  beforeAll(async () => {
    server = await startTestServer(store, { clock });
    tokenUrl = `${server.config.urls.self.public.replace(/\/+$/, '')}/oauth2/token`;
    key = await keyPair('RS256', 'key-1');
    client = await createClient({ jwks: sdkJwks(key.publicJwk) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('authenticates through oauth4webapi (audience: the issuer)', async () => {
    const as: oauth.AuthorizationServer = { issuer: server.config.urls.self.issuer, token_endpoint: `${server.publicUrl}/oauth2/token` };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.client_id },
      oauth.PrivateKeyJwt({ key: key.privateKey, kid: 'key-1' }),
      new URLSearchParams({ scope: 'read' }),
      insecure,
    );
    const token = await oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, response);
    expect(token.access_token).toMatch(/^ory_at_/);
    expect(token.scope).toBe('read');
  });

  it('accepts the token endpoint URL as audience, with or without a trailing slash, and a matching client_id', async () => {
    expect((await withAssertion(await assertion(key, client.client_id, tokenUrl))).status).toBe(200);
    expect((await withAssertion(await assertion(key, client.client_id, `${tokenUrl}/`))).status).toBe(200);
    const both = await withAssertion(await assertion(key, client.client_id, tokenUrl, { aud: ['https://other.example', tokenUrl] }), {
      client_id: client.client_id,
    });
    expect(both.status).toBe(200);
  });

  it('refuses a replayed assertion (jti is single-use)', async () => {
    const signed = await assertion(key, client.client_id, tokenUrl);
    expect((await withAssertion(signed)).status).toBe(200);
    const replay = await withAssertion(signed);
    expectOAuthError(replay, 401, 'invalid_client');
    expect(replay.body.error_description).toContain('jti');
    // The same jti in a freshly signed assertion is a replay too.
    const jti = randomUUID();
    expect((await withAssertion(await assertion(key, client.client_id, tokenUrl, { jti }))).status).toBe(200);
    expectOAuthError(await withAssertion(await assertion(key, client.client_id, tokenUrl, { jti })), 401, 'invalid_client');
    const rows = await server.registry.database.db.selectFrom('used_jtis').selectAll().execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(rows)).not.toContain(jti);
  });

  it('refuses a wrong audience, an expired assertion, a missing jti, and iss ≠ sub', async () => {
    expectOAuthError(
      await withAssertion(await assertion(key, client.client_id, 'https://elsewhere.example/oauth2/token')),
      401,
      'invalid_client',
    );
    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = await withAssertion(await assertion(key, client.client_id, tokenUrl, { exp: past }));
    expectOAuthError(expired, 401, 'invalid_client');
    expect(expired.body.error_description).toContain('expired');
    expectOAuthError(await withAssertion(await assertion(key, client.client_id, tokenUrl, { jti: null })), 401, 'invalid_client');
    expectOAuthError(await withAssertion(await assertion(key, client.client_id, tokenUrl, { iss: 'someone-else' })), 401, 'invalid_client');
  });

  it('refuses an assertion signed by another key, even under the registered kid', async () => {
    const stranger = await keyPair('RS256', 'key-1');
    const answer = await withAssertion(await assertion(stranger, client.client_id, tokenUrl));
    expectOAuthError(answer, 401, 'invalid_client');
    const unknownKid = await withAssertion(await assertion(stranger, client.client_id, tokenUrl, { kid: 'key-2' }));
    expectOAuthError(unknownKid, 401, 'invalid_client');
  });

  it('refuses a client_id that differs from the assertion subject, and mixed methods', async () => {
    const signed = await assertion(key, client.client_id, tokenUrl);
    expectOAuthError(await withAssertion(signed, { client_id: 'another-client' }), 401, 'invalid_client');
    expectOAuthError(await withAssertion(await assertion(key, client.client_id, tokenUrl), { client_secret: 'x' }), 400, 'invalid_request');
    expectOAuthError(
      await tokenRequest(server, { grant_type: 'client_credentials', client_assertion_type: 'urn:unknown', client_assertion: signed }),
      400,
      'invalid_request',
    );
  });

  it('only lets a client use its registered method, without saying which to a caller that proved nothing (issue 12 #19)', async () => {
    const secretClient = await createClient({ token_endpoint_auth_method: 'client_secret_basic', jwks: sdkJwks(key.publicJwk) });
    const refused = await withAssertion(await assertion(key, secretClient.client_id, tokenUrl));
    expectOAuthError(refused, 401, 'invalid_client');
    expect(refused.body.error_description).toBe(GENERIC_INVALID_CLIENT);

    const basic = basicAuth(client.client_id, 'whatever');
    const viaBasic = await tokenRequest(server, { grant_type: 'client_credentials' }, { authorization: basic });
    expectOAuthError(viaBasic, 401, 'invalid_client');
    expect(viaBasic.body.error_description).toBe(GENERIC_INVALID_CLIENT);
  });

  it('restricts the algorithm: RS256 family by default, exactly token_endpoint_auth_signing_alg when set', async () => {
    // A Node KeyObject is not bound to one algorithm, so one RSA key can sign RS256, RS384 and PS256.
    const pair = generateRsaKeyPair('rsa', { modulusLength: 2048 });
    const rsa: KeyPair = {
      privateKey: pair.privateKey as unknown as CryptoKey,
      publicJwk: { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid: 'no-alg', use: 'sig' },
    };
    const defaultClient = await createClient({ jwks: sdkJwks(rsa.publicJwk) });
    expect((await withAssertion(await assertion(rsa, defaultClient.client_id, tokenUrl, { alg: 'RS384' }))).status).toBe(200);
    expectOAuthError(await withAssertion(await assertion(rsa, defaultClient.client_id, tokenUrl, { alg: 'PS256' })), 401, 'invalid_client');

    const ec = await keyPair('ES256', 'ec-1');
    const ecClient = await createClient({ jwks: sdkJwks(ec.publicJwk), token_endpoint_auth_signing_alg: 'ES256' });
    expect((await withAssertion(await assertion(ec, ecClient.client_id, tokenUrl, { alg: 'ES256' }))).status).toBe(200);

    const psClient = await createClient({ jwks: sdkJwks(rsa.publicJwk), token_endpoint_auth_signing_alg: 'PS256' });
    expect((await withAssertion(await assertion(rsa, psClient.client_id, tokenUrl, { alg: 'PS256' }))).status).toBe(200);
    expectOAuthError(await withAssertion(await assertion(rsa, psClient.client_id, tokenUrl, { alg: 'RS256' })), 401, 'invalid_client');
  });

  describe('keys from a jwks_uri', () => {
    let jwksServer: Server;
    let served: JWK[] = [];
    let fetches = 0;
    let jwksUri: string;
    beforeAll(async () => {
      jwksServer = createServer((_request, response) => {
        fetches++;
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    });
    afterAll(async () => {
      await new Promise((resolve) => jwksServer.close(resolve));
    });

    it('fetches the set once, serves later assertions from memory, and refetches for a new kid', async () => {
      const first = await keyPair('RS256', 'remote-1');
      served = [first.publicJwk];
      const remoteClient = await createClient({ jwks_uri: jwksUri });
      fetches = 0;
      expect((await withAssertion(await assertion(first, remoteClient.client_id, tokenUrl))).status).toBe(200);
      expect((await withAssertion(await assertion(first, remoteClient.client_id, tokenUrl))).status).toBe(200);
      expect(fetches).toBe(1);

      // Made now: generating an RSA key on a loaded machine can take longer than the refetch cooldown.
      const stranger = await keyPair('RS256', 'remote-3');
      const strangerAssertion = await assertion(stranger, remoteClient.client_id, tokenUrl);

      // The client rotates: the new kid is unknown to the cached set, so the set is fetched again.
      const second = await keyPair('RS256', 'remote-2');
      served = [first.publicJwk, second.publicJwk];
      clock.advance(1100);
      expect((await withAssertion(await assertion(second, remoteClient.client_id, tokenUrl))).status).toBe(200);
      expect(fetches).toBe(2);

      // A key the client never published is refused, and does not refetch again within the cooldown.
      expectOAuthError(await withAssertion(strangerAssertion), 401, 'invalid_client');
      expect(fetches).toBe(2);
    });

    it('refuses when the jwks_uri cannot be fetched', async () => {
      const broken = await createClient({ jwks_uri: 'http://127.0.0.1:1/jwks.json' });
      const answer = await withAssertion(await assertion(key, broken.client_id, tokenUrl));
      expectOAuthError(answer, 401, 'invalid_client');
      // As any other key failure (issue 12 #10: what the jwks_uri answered is not told).
      expect(answer.body.error_description).toBe(GENERIC_INVALID_CLIENT);
    });
  });

  describe('with clients.http.disallow_private_ip_ranges', () => {
    let guarded: TestServer;
    // The same data without the guard: registration refuses loopback jwks_uris when the guard is on,
    // so clients registered before it was switched on stand in here.
    let unguarded: TestServer;
    let jwksServer: Server;
    let port: number;
    let publicKey: JWK;
    beforeAll(async () => {
      jwksServer = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicKey] }));
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      port = (jwksServer.address() as AddressInfo).port;
      guarded = await startTestServer(store, {
        env: {
          CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: 'true',
          CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS: `http://127.0.0.1:${port}/allowed.json`,
        },
      });
      unguarded = await startTestServer(store, { dsn: guarded.config.dsn });
    });
    afterAll(async () => {
      await unguarded?.close();
      await guarded?.close();
      await new Promise((resolve) => jwksServer.close(resolve));
    });

    it('refuses to fetch a jwks_uri on a loopback address or name, unless it is an exception', async () => {
      const signer = await keyPair('RS256', 'guarded-1');
      publicKey = signer.publicJwk;
      const guardedTokenUrl = `${guarded.config.urls.self.public.replace(/\/+$/, '')}/oauth2/token`;
      const attempt = async (jwksUri: string) => {
        const { data } = await unguarded.admin.oauth2.createOAuth2Client({
          oAuth2Client: { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri },
        });
        const id = data.client_id as string;
        return tokenRequest(guarded, {
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await assertion(signer, id, guardedTokenUrl),
        });
      };
      const literal = await attempt(`http://127.0.0.1:${port}/jwks.json`);
      expectOAuthError(literal, 401, 'invalid_client');
      expect(literal.body.error_description).toBe(GENERIC_INVALID_CLIENT);
      expectOAuthError(await attempt(`http://localhost:${port}/jwks.json`), 401, 'invalid_client');
      expect((await attempt(`http://127.0.0.1:${port}/allowed.json`)).status).toBe(200);
      // Registering such a client with the guard on is refused up front.
      await expect(
        guarded.admin.oauth2.createOAuth2Client({
          oAuth2Client: { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `http://127.0.0.1:${port}/jwks.json` },
        }),
      ).rejects.toMatchObject({ response: { status: 400, data: { error: 'invalid_client_metadata' } } });
    });
  });
});
