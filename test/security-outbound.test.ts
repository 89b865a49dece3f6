/**
 * Issue 12, the outbound and client-authentication items (#3, #10, #18, #19), driven over HTTP on
 * both stores: key selection for private_key_jwt, the private-address rules for what the server
 * fetches itself (jwks_uri, sector_identifier_uri, back-channel logout), the lifetime of client
 * assertions, single-use verifiable-credential proofs, and uniform invalid_client answers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { basicAuth, type FormAnswer, postForm } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const DCR = { OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true' };
/** The admin's opt-in: self-registered clients may use private addresses. */
const DCR_PRIVATE_OK = { ...DCR, OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOW_PRIVATE_IP_RANGES: 'true' };

interface Signer {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function rsaSigner(extra: Partial<JWK> = {}): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), use: 'sig', ...extra } };
}

/** A well-formed RSA public key nobody holds the private half of: cheap filler for big key sets. */
function fakeRsaJwk(extra: Partial<JWK> = {}): JWK {
  const modulus = randomBytes(256);
  modulus[0] = (modulus[0] as number) | 0x80;
  modulus[255] = (modulus[255] as number) | 1;
  return { kty: 'RSA', n: modulus.toString('base64url'), e: 'AQAB', ...extra };
}

interface AssertionClaims {
  kid?: string;
  exp?: number;
  iat?: number;
}

async function clientAssertion(signer: Signer, clientId: string, audience: string, claims: AssertionClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', ...(claims.kid ? { kid: claims.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 60)
    .setJti(randomUUID())
    .sign(signer.privateKey);
}

/** A loopback HTTP server answering each path with a handler, counting requests per path. */
class Receiver {
  readonly hits = new Map<string, number>();
  readonly bodies = new Map<string, string[]>();
  private server: Server | undefined;
  base = '';

  constructor(private readonly routes: Record<string, (request: IncomingMessage) => { status: number; body: string }>) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      request.on('end', () => {
        this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
        this.bodies.set(path, [...(this.bodies.get(path) ?? []), body]);
        const route = this.routes[path];
        const answer = route ? route(request) : { status: 404, body: 'not found' };
        response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

function tokenUrlOf(server: TestServer): string {
  return `${server.config.urls.self.public.replace(/\/+$/, '')}/oauth2/token`;
}

function withAssertion(server: TestServer, assertion: string): Promise<FormAnswer> {
  return postForm(`${server.publicUrl}/oauth2/token`, {
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
  });
}

async function register(server: TestServer, metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.publicUrl}/oauth2/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function adminCreate(
  server: TestServer,
  metadata: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.adminUrl}/admin/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Replaces a stored client's `jwks` in its row, as a client stored before the key cap would hold it. */
async function storeJwks(server: TestServer, clientId: string, keys: JWK[]): Promise<void> {
  const { db } = server.registry.database;
  const row = await db.selectFrom('clients').select('document').where('id', '=', clientId).executeTakeFirstOrThrow();
  const document = { ...(JSON.parse(row.document) as Record<string, unknown>), jwks: { keys } };
  await db
    .updateTable('clients')
    .set({ document: JSON.stringify(document) })
    .where('id', '=', clientId)
    .execute();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

describe.each(STORES)('issue 12: outbound fetches and client authentication ($name)', (store) => {
  let server: TestServer;
  let signer: Signer;
  const keySets: Record<string, JWK[]> = {};
  const files = new Receiver({
    '/jwks.json': () => ({ status: 200, body: JSON.stringify({ keys: keySets.main ?? [] }) }),
    '/many.json': () => ({ status: 200, body: JSON.stringify({ keys: keySets.many ?? [] }) }),
    '/empty.json': () => ({ status: 200, body: JSON.stringify({ keys: [] }) }),
    '/object.json': () => ({ status: 200, body: JSON.stringify({ hello: 'world' }) }),
    '/not-json': () => ({ status: 200, body: '<html>hello</html>' }),
    '/broken.json': () => ({ status: 500, body: '{}' }),
    '/backchannel': () => ({ status: 200, body: '' }),
  });

  beforeAll(async () => {
    await files.start();
    server = await startTestServer(store, { env: { ...DCR, CACHE_TTL: '0s' } });
    signer = await rsaSigner({ kid: 'main' });
    keySets.main = [signer.publicJwk];
  });
  afterAll(async () => {
    await server?.close();
    await files.stop();
  });

  const privateKeyJwtClient = async (on: TestServer, extra: Record<string, unknown>) => {
    const created = await adminCreate(on, {
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      ...extra,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.client_id as string;
  };

  // ------------------------------------------------------------------------------------------
  // #3: key sets with thousands of keys

  describe('#3 key selection', () => {
    it('issue 12 #3: a jwks_uri answering more keys than clients.jwks.max_keys is refused', async () => {
      keySets.many = [signer.publicJwk, ...Array.from({ length: 100 }, () => fakeRsaJwk({ use: 'sig' }))];
      const id = await privateKeyJwtClient(server, { jwks_uri: `${files.base}/many.json` });
      const answer = await withAssertion(server, await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main' }));
      expect(answer.status).toBe(401);
      expect(answer.body.error).toBe('invalid_client');
      // At the cap it is accepted.
      keySets.many = [signer.publicJwk, ...Array.from({ length: 99 }, () => fakeRsaJwk({ use: 'sig' }))];
      const atCap = await privateKeyJwtClient(server, { jwks_uri: `${files.base}/many.json?at-cap` });
      expect((await withAssertion(server, await clientAssertion(signer, atCap, tokenUrlOf(server), { kid: 'main' }))).status).toBe(200);
    });

    it('issue 12 #3: a kid-less assertion tries only keys whose kty, alg and use can verify it, and only a few of them', async () => {
      const kidless = await rsaSigner();
      const id = await privateKeyJwtClient(server, { jwks: { keys: [signer.publicJwk] } });
      const ec = await generateKeyPair('ES256', { extractable: true });
      const ecJwk = await exportJWK(ec.publicKey);
      // A client stored before the cap, with thousands of keys that cannot verify an RS256 assertion
      // (other kty, another alg, use=enc) before its real key: they are never candidates.
      const unfit = [
        ...Array.from({ length: 1500 }, () => ({ ...ecJwk })),
        ...Array.from({ length: 1500 }, () => fakeRsaJwk({ alg: 'RS512' })),
        ...Array.from({ length: 1500 }, () => fakeRsaJwk({ use: 'enc' })),
      ];
      await storeJwks(server, id, [...unfit, kidless.publicJwk]);
      const fit = await withAssertion(server, await clientAssertion(kidless, id, tokenUrlOf(server)));
      expect(fit.status, JSON.stringify(fit.body)).toBe(200);

      // Thousands of keys that could each verify it: only the first few are tried, so a key
      // further down is never reached, and the request does a bounded amount of work.
      await storeJwks(server, id, [...Array.from({ length: 3000 }, () => fakeRsaJwk()), kidless.publicJwk]);
      const started = performance.now();
      const flooded = await withAssertion(server, await clientAssertion(kidless, id, tokenUrlOf(server)));
      const elapsed = performance.now() - started;
      expect(flooded.status).toBe(401);
      expect(flooded.body.error).toBe('invalid_client');
      // Generous: trying 3000 keys took seconds; a handful takes milliseconds even under load.
      expect(elapsed).toBeLessThan(1500);
      // The same key among the first candidates still works.
      await storeJwks(server, id, [kidless.publicJwk, ...Array.from({ length: 3000 }, () => fakeRsaJwk())]);
      expect((await withAssertion(server, await clientAssertion(kidless, id, tokenUrlOf(server)))).status).toBe(200);
    });
  });

  // ------------------------------------------------------------------------------------------
  // #10: SSRF

  describe('#10 private addresses', () => {
    let optedIn: TestServer;
    beforeAll(async () => {
      optedIn = await startTestServer(store, { dsn: server.config.dsn, env: { ...DCR_PRIVATE_OK, CACHE_TTL: '0s' } });
    });
    afterAll(async () => {
      await optedIn?.close();
    });

    it('issue 12 #10: a self-registered client cannot name private fetch targets by default; the admin opt-in and admin-created clients can', async () => {
      const targets: Array<[string, Record<string, unknown>]> = [
        ['jwks_uri', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${files.base}/jwks.json` }],
        ['jwks_uri on localhost', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `http://localhost:1/jwks.json` }],
        ['backchannel_logout_uri', { backchannel_logout_uri: `${files.base}/backchannel` }],
        ['backchannel_logout_uri on link-local', { backchannel_logout_uri: 'http://169.254.169.254/latest/meta-data' }],
        ['request_uris', { request_uris: ['http://[::1]:9/request.jwt'] }],
        ['sector_identifier_uri', { redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: `${files.base}/sector.json` }],
      ];
      for (const [why, metadata] of targets) {
        const refused = await register(server, metadata);
        expect(refused.status, why).toBe(400);
        expect(refused.body.error, why).toBe('invalid_client_metadata');
      }
      // Nothing was fetched to decide.
      expect(files.count('/sector.json')).toBe(0);
      // The admin's opt-in lets them through; an admin-created client keeps Hydra's rule (allowed
      // unless clients.http.disallow_private_ip_ranges).
      const [jwksTarget, backchannelTarget] = targets;
      expect((await register(optedIn, jwksTarget?.[1] as Record<string, unknown>)).status).toBe(201);
      expect((await register(optedIn, backchannelTarget?.[1] as Record<string, unknown>)).status).toBe(201);
      expect((await adminCreate(server, jwksTarget?.[1] as Record<string, unknown>)).status).toBe(201);
    });

    it('issue 12 #10: a self-registered client’s jwks_uri is held to the rule when it is fetched, too', async () => {
      // Registered while the admin allowed it (or while its name resolved publicly), served later without.
      const registered = await register(optedIn, {
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: `${files.base}/jwks.json?self-registered`,
      });
      expect(registered.status).toBe(201);
      const id = registered.body.client_id as string;
      const before = files.count('/jwks.json');
      const refused = await withAssertion(server, await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main' }));
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      expect(files.count('/jwks.json')).toBe(before);
      // With the opt-in the same client authenticates.
      expect((await withAssertion(optedIn, await clientAssertion(signer, id, tokenUrlOf(optedIn), { kid: 'main' }))).status).toBe(200);
      expect(files.count('/jwks.json')).toBe(before + 1);
    });

    it('issue 12 #10: back-channel logout is not POSTed to a self-registered client’s private address', async () => {
      const selfRegistered = await register(optedIn, { backchannel_logout_uri: `${files.base}/backchannel?self` });
      expect(selfRegistered.status).toBe(201);
      const adminMade = await adminCreate(server, { backchannel_logout_uri: `${files.base}/backchannel?admin` });
      expect(adminMade.status).toBe(201);
      const sid = randomUUID();
      const now = Date.now();
      await server.registry.sessions.saveLoginSession({
        id: sid,
        subject: 'dana',
        authenticatedAt: now,
        remember: true,
        expiresAt: now + 3_600_000,
        identityProviderSessionId: '',
      });
      for (const clientId of [selfRegistered.body.client_id, adminMade.body.client_id] as string[]) {
        await server.registry.sessions.insertConsent({
          id: randomUUID(),
          clientId,
          subject: 'dana',
          loginSessionId: sid,
          grantScope: ['openid'],
          grantAudience: [],
          remember: false,
          rememberFor: 0,
          handledAt: now,
          document: {},
        } as Parameters<typeof server.registry.sessions.insertConsent>[0]);
      }
      const posted = (files.bodies.get('/backchannel') ?? []).length;
      const ended = await fetch(`${server.adminUrl}/admin/oauth2/auth/sessions/login?sid=${sid}`, { method: 'DELETE' });
      expect(ended.status).toBe(204);
      const deadline = Date.now() + 10_000;
      while ((files.bodies.get('/backchannel') ?? []).length === posted && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Past the first retry delay, so a refused delivery that was retried would have shown by now.
      await new Promise((resolve) => setTimeout(resolve, 800));
      const tokens = (files.bodies.get('/backchannel') ?? []).slice(posted).map((body) => new URLSearchParams(body).get('logout_token'));
      const audiences = tokens.map(
        (token) => JSON.parse(Buffer.from((token as string).split('.')[1] as string, 'base64url').toString()).aud,
      );
      expect(audiences).toEqual([[adminMade.body.client_id]]);
    });

    it('issue 12 #10: every way a jwks_uri can fail answers the same error text', async () => {
      const stranger = await rsaSigner({ kid: 'stranger' });
      const paths = [
        'http://127.0.0.1:1/jwks.json',
        '/missing.json',
        '/broken.json',
        '/not-json',
        '/object.json',
        '/empty.json',
        '/jwks.json',
      ];
      const descriptions = new Set<string>();
      for (const path of paths) {
        const uri = path.startsWith('http') ? path : `${files.base}${path}`;
        const id = await privateKeyJwtClient(server, { jwks_uri: `${uri}${uri.includes('?') ? '&' : '?'}u=${randomUUID()}` });
        const answer = await withAssertion(server, await clientAssertion(stranger, id, tokenUrlOf(server), { kid: 'stranger' }));
        expect(answer.status, path).toBe(401);
        expect(answer.body.error, path).toBe('invalid_client');
        descriptions.add(answer.body.error_description as string);
      }
      expect([...descriptions]).toHaveLength(1);
    });

    it('issue 12 #10: IPv4-compatible, SIIT, NAT64, 6to4 and Teredo forms of loopback are refused with the guard on', async () => {
      const guarded = await startTestServer(store, { dsn: server.config.dsn, env: { CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: 'true' } });
      try {
        const hosts = [
          '[::7f00:1]', // ::/96, IPv4-compatible 127.0.0.1
          '[::ffff:7f00:1]', // IPv4-mapped 127.0.0.1, as the URL parser writes it
          '[::ffff:0:7f00:1]', // SIIT (IPv4-translated) 127.0.0.1
          '[64:ff9b::a00:1]', // NAT64 well-known prefix, 10.0.0.1
          '[64:ff9b:1::7f00:1]', // NAT64 local-use prefix
          '[2002:7f00:1::1]', // 6to4 of 127.0.0.1
          '[2002:a9fe:a9fe::1]', // 6to4 of 169.254.169.254
          '[2001:0:4136:e378:8000:63bf:80ff:fffe]', // Teredo, client 127.0.0.1
        ];
        for (const host of hosts) {
          const answer = await adminCreate(guarded, {
            token_endpoint_auth_method: 'private_key_jwt',
            jwks_uri: `http://${host}:8080/jwks.json`,
          });
          expect(answer.status, host).toBe(400);
          expect(answer.body.error, host).toBe('invalid_client_metadata');
        }
        // Public IPv6 and 6to4 of a public address stay allowed.
        for (const host of ['[2606:4700:4700::1111]', '[2002:5db8:d822::1]']) {
          const answer = await adminCreate(guarded, {
            token_endpoint_auth_method: 'private_key_jwt',
            jwks_uri: `http://${host}:8080/jwks.json`,
          });
          expect(answer.status, host).toBe(201);
        }
      } finally {
        await guarded.close();
      }
    });
  });

  // ------------------------------------------------------------------------------------------
  // #18: loose checks

  describe('#18 lifetimes and replays', () => {
    it('issue 12 #18: a client assertion living longer than oauth2.grant.jwt.max_ttl is refused', async () => {
      const id = await privateKeyJwtClient(server, { jwks: { keys: [signer.publicJwk] } });
      const now = Math.floor(Date.now() / 1000);
      const year9999 = await withAssertion(
        server,
        await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main', exp: 253402300799 }),
      );
      expect(year9999.status).toBe(401);
      expect(year9999.body.error).toBe('invalid_client');
      // 720h, Hydra's default, is the bound: just under passes, just over does not.
      const day = 24 * 3600;
      expect(
        (await withAssertion(server, await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main', exp: now + 29 * day }))).status,
      ).toBe(200);
      expect(
        (await withAssertion(server, await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main', exp: now + 31 * day }))).status,
      ).toBe(401);
      // An iat in the future cannot stretch it.
      const future = await withAssertion(
        server,
        await clientAssertion(signer, id, tokenUrlOf(server), { kid: 'main', iat: now + 40 * day, exp: now + 41 * day }),
      );
      expect(future.status).toBe(401);

      const short = await startTestServer(store, { dsn: server.config.dsn, env: { OAUTH2_GRANT_JWT_MAX_TTL: '1m' } });
      try {
        const later = Math.floor(Date.now() / 1000);
        expect(
          (await withAssertion(short, await clientAssertion(signer, id, tokenUrlOf(short), { kid: 'main', exp: later + 50 }))).status,
        ).toBe(200);
        expect(
          (await withAssertion(short, await clientAssertion(signer, id, tokenUrlOf(short), { kid: 'main', exp: later + 120 }))).status,
        ).toBe(401);
      } finally {
        await short.close();
      }
    });

    it('issue 12 #18: a verifiable-credential proof is single-use, for this issuer, and recent', async () => {
      const flows = await startTestServer(store, { dsn: server.config.dsn, env: FLOW_ENV });
      try {
        const issuer = flows.config.urls.self.issuer;
        const { data } = await flows.admin.oauth2.createOAuth2Client({
          oAuth2Client: {
            grant_types: ['authorization_code'],
            redirect_uris: ['https://rp.example/cb'],
            scope: 'openid userinfo_credential_draft_00',
          },
        });
        const rp = await oidc.discovery(
          new URL(issuer),
          data.client_id as string,
          undefined,
          oidc.ClientSecretBasic(data.client_secret as string),
          {
            execute: [oidc.allowInsecureRequests],
          },
        );
        const url = oidc.buildAuthorizationUrl(rp, {
          redirect_uri: 'https://rp.example/cb',
          scope: 'openid userinfo_credential_draft_00',
          state: 'vc-state',
        });
        const { callback } = await runFlow(flows, new Browser(), url.toString(), { login: { subject: 'erin' } });
        const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'vc-state' });
        const holder = await generateKeyPair('ES256');
        const jwk = await exportJWK(holder.publicKey);
        const credentials = async (proof: string) => {
          const response = await fetch(`${flows.publicUrl}/credentials`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}` },
            body: JSON.stringify({ format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt: proof } }),
          });
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        };
        const nonce = async () => {
          const primed = await fetch(`${flows.publicUrl}/credentials`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}` },
            body: JSON.stringify({ format: 'jwt_vc_json' }),
          });
          return ((await primed.json()) as { c_nonce: string }).c_nonce;
        };
        const proof = (claims: { nonce: string; aud?: string | null; iat?: number | null }) => {
          let jwt = new SignJWT({ nonce: claims.nonce }).setProtectedHeader({ alg: 'ES256', jwk, typ: 'openid4vci-proof+jwt' });
          if (claims.aud !== null) jwt = jwt.setAudience(claims.aud ?? issuer);
          if (claims.iat !== null) jwt = jwt.setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000));
          return jwt.sign(holder.privateKey);
        };

        const first = await nonce();
        const once = await proof({ nonce: first });
        expect((await credentials(once)).status).toBe(200);
        // The same proof, or another proof over the same nonce, is a replay.
        const replay = await credentials(once);
        expect(replay.status).toBe(400);
        expect(replay.body.error).toBe('invalid_request');
        expect((await credentials(await proof({ nonce: first }))).status).toBe(400);

        const now = Math.floor(Date.now() / 1000);
        const refusals: Array<[string, { aud?: string | null; iat?: number | null }]> = [
          ['another audience', { aud: 'https://other-issuer.example' }],
          ['no audience', { aud: null }],
          ['no iat', { iat: null }],
          ['an iat an hour old', { iat: now - 3600 }],
          ['an iat in the future', { iat: now + 3600 }],
        ];
        for (const [why, claims] of refusals) {
          const fresh = await nonce();
          const refused = await credentials(await proof({ nonce: fresh, ...claims }));
          expect(refused.status, why).toBe(400);
          expect(refused.body.error, why).toBe('invalid_request');
          // A refused proof does not use up its nonce.
          expect((await credentials(await proof({ nonce: fresh }))).status, why).toBe(200);
        }
      } finally {
        await flows.close();
      }
    });
  });

  // ------------------------------------------------------------------------------------------
  // #19: what invalid_client tells

  describe('#19 uniform invalid_client', () => {
    let slow: TestServer;
    let known: { id: string; secret: string };
    let jwtClient: string;
    beforeAll(async () => {
      // Hydra's default PBKDF2 cost, so that a skipped hash shows in the timing.
      slow = await startTestServer(store, { env: { OAUTH2_HASHERS_PBKDF2_ITERATIONS: '25000' } });
      const created = await adminCreate(slow, { grant_types: ['client_credentials'] });
      known = { id: created.body.client_id as string, secret: created.body.client_secret as string };
      jwtClient = (
        await adminCreate(slow, {
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [signer.publicJwk] },
        })
      ).body.client_id as string;
    });
    afterAll(async () => {
      await slow?.close();
    });

    it('issue 12 #19: an unknown client, a wrong secret and the wrong method answer the same invalid_client body at the token and revocation endpoints', async () => {
      for (const endpoint of ['/oauth2/token', '/oauth2/revoke']) {
        const form: Record<string, string> =
          endpoint === '/oauth2/token' ? { grant_type: 'client_credentials' } : { token: 'ory_at_whatever' };
        const answers = [
          await postForm(`${slow.publicUrl}${endpoint}`, form, { authorization: basicAuth('no-such-client', 'some-secret') }),
          await postForm(`${slow.publicUrl}${endpoint}`, form, { authorization: basicAuth(known.id, 'wrong-secret') }),
          await postForm(`${slow.publicUrl}${endpoint}`, { ...form, client_id: 'no-such-client', client_secret: 'some-secret' }),
          await postForm(`${slow.publicUrl}${endpoint}`, { ...form, client_id: known.id, client_secret: 'wrong-secret' }),
          await postForm(`${slow.publicUrl}${endpoint}`, form, { authorization: basicAuth(jwtClient, 'some-secret') }),
        ];
        for (const answer of answers) {
          expect(answer.status, endpoint).toBe(401);
          expect(answer.body, endpoint).toEqual({
            error: 'invalid_client',
            error_description:
              'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).',
          });
        }
        // An assertion for an unknown client and one for a known client signed by a stranger, likewise.
        const stranger = await rsaSigner({ kid: 'main' });
        const assertions = [
          await withAssertion(slow, await clientAssertion(stranger, 'no-such-client', tokenUrlOf(slow), { kid: 'main' })),
          await withAssertion(slow, await clientAssertion(stranger, jwtClient, tokenUrlOf(slow), { kid: 'main' })),
          await withAssertion(slow, await clientAssertion(stranger, known.id, tokenUrlOf(slow), { kid: 'main' })),
        ];
        expect(new Set(assertions.map((answer) => JSON.stringify([answer.status, answer.body]))).size).toBe(1);
      }
    });

    it('issue 12 #19: an unknown client takes about as long to refuse as a wrong secret', async () => {
      const attempt = async (id: string) => {
        const started = performance.now();
        const answer = await postForm(
          `${slow.publicUrl}/oauth2/token`,
          { grant_type: 'client_credentials' },
          { authorization: basicAuth(id, 'wrong-secret') },
        );
        expect(answer.status).toBe(401);
        return performance.now() - started;
      };
      await attempt(known.id);
      await attempt('warm-up');
      const unknown: number[] = [];
      const wrong: number[] = [];
      // Interleaved, so that load from elsewhere falls on both sides alike.
      for (let i = 0; i < 15; i++) {
        unknown.push(await attempt(`unknown-${i}`));
        wrong.push(await attempt(known.id));
      }
      const ratio = median(unknown) / median(wrong);
      expect(ratio, `unknown ${median(unknown).toFixed(1)} ms, wrong secret ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    });
  });
});

describe('outbound answers over the size limit', () => {
  let big: Server;
  let url: string;
  beforeAll(async () => {
    big = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // The whole answer at once, far over the limit.
      response.end(JSON.stringify({ padding: 'x'.repeat(20_000) }));
    });
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(big.address() as AddressInfo).port}/big.json`;
  });
  afterAll(async () => {
    big.closeAllConnections();
    await new Promise<void>((resolve) => big.close(() => resolve()));
  });

  it('reject with an OutboundError (they once resolved as an empty body and threw an uncaught exception)', async () => {
    const { fetchJson, fetchText, OutboundError } = await import('../src/http/outbound.js');
    const open = { disallowPrivateIpRanges: false, privateIpExceptionUrls: [] };
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      await expect(fetchText(url, open, 'application/json', { maxBytes: 5120 })).rejects.toThrow(/more than 5120 bytes/);
      await expect(fetchJson(url, open, { maxBytes: 1024 })).rejects.toBeInstanceOf(OutboundError);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
  });
});
