/**
 * Rate limiting of the public token, authorization and registration endpoints
 * (`serve.public.rate_limit`), per client and per IP, through HTTP from several loopback addresses.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenBuckets } from '../src/http/rate-limit.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** One request from a chosen loopback address (each address is its own "IP" to the server). */
function send(
  url: string,
  from: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: from }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += String(chunk);
      });
      res.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = {};
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

function tokenRequest(server: TestServer, from: string, client?: { id: string; secret: string }): Promise<Answer> {
  return send(`${server.publicUrl}/oauth2/token`, from, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(client ? { authorization: basicAuth(client.id, client.secret) } : {}),
    },
    body: 'grant_type=client_credentials',
  });
}

function expectLimited(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Object.keys(answer.body).sort()).toEqual(['error', 'error_description']);
  expect(answer.body.error).toBe('too_many_requests');
  expect(answer.headers['cache-control']).toBe('no-store');
}

describe.each(STORES)('rate limiting on $name', (store) => {
  let server: TestServer;
  const clients: Array<{ id: string; secret: string }> = [];
  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        SERVE_PUBLIC_RATE_LIMIT_ENABLED: 'true',
        SERVE_PUBLIC_RATE_LIMIT_REQUESTS_PER_SECOND: '1',
        SERVE_PUBLIC_RATE_LIMIT_BURST: '3',
        OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
      },
    });
    for (let i = 0; i < 2; i++) {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
      });
      clients.push({ id: data.client_id as string, secret: data.client_secret as string });
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('limits each IP address on the token, authorization and registration endpoints, and no other route', async () => {
    for (let i = 0; i < 3; i++) expect((await tokenRequest(server, '127.0.0.2')).status).toBe(401);
    expectLimited(await tokenRequest(server, '127.0.0.2'));
    expectLimited(await send(`${server.publicUrl}/oauth2/auth?response_type=code`, '127.0.0.2'));
    expectLimited(
      await send(`${server.publicUrl}/oauth2/register`, '127.0.0.2', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['https://rp.example/cb'] }),
      }),
    );
    // Other routes, and other addresses, are not limited.
    expect((await send(`${server.publicUrl}/.well-known/openid-configuration`, '127.0.0.2')).status).toBe(200);
    expect((await tokenRequest(server, '127.0.0.3')).status).toBe(401);
  });

  it('limits each client across addresses, and lets it retry after Retry-After', async () => {
    const [first, second] = clients as [{ id: string; secret: string }, { id: string; secret: string }];
    for (const from of ['127.0.0.4', '127.0.0.5', '127.0.0.6']) expect((await tokenRequest(server, from, first)).status).toBe(200);
    const limited = await tokenRequest(server, '127.0.0.7', first);
    expectLimited(limited);
    // That refusal took nothing from 127.0.0.7, and another client is not limited.
    expect((await tokenRequest(server, '127.0.0.7', second)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Number(limited.headers['retry-after']) * 1000 + 100));
    expect((await tokenRequest(server, '127.0.0.8', first)).status).toBe(200);
  });

  it('issue 12 #13: /oauth2/revoke authenticates clients, so it shares their limit with the token endpoint', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
    });
    const guessed = { id: data.client_id as string, secret: 'not-the-secret' };
    const revoke = (from: string, client?: { id: string; secret: string }) =>
      send(`${server.publicUrl}/oauth2/revoke`, from, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(client ? { authorization: basicAuth(client.id, client.secret) } : {}),
        },
        body: 'token=whatever',
      });
    // Secret guesses spread over both endpoints and several addresses spend one budget (burst 3).
    expect((await revoke('127.0.1.1', guessed)).status).toBe(401);
    expect((await tokenRequest(server, '127.0.1.2', guessed)).status).toBe(401);
    expect((await revoke('127.0.1.3', guessed)).status).toBe(401);
    expectLimited(await revoke('127.0.1.4', guessed));
    expectLimited(await tokenRequest(server, '127.0.1.5', guessed));
    // And each address is limited on revocation as on the token endpoint.
    for (let i = 0; i < 3; i++) expect((await revoke('127.0.1.6')).status).toBe(401);
    expectLimited(await revoke('127.0.1.6'));
  });
});

describe('token buckets', () => {
  it('refill at the rate, up to the burst', () => {
    let now = 0;
    const buckets = new TokenBuckets(2, 2, 100, () => now);
    expect(buckets.take(['a']).allowed).toBe(true);
    expect(buckets.take(['a']).allowed).toBe(true);
    expect(buckets.take(['a'])).toEqual({ allowed: false, retryAfter: 1 });
    now += 500; // one token back
    expect(buckets.take(['a']).allowed).toBe(true);
    expect(buckets.take(['a']).allowed).toBe(false);
    now += 60_000; // never more than the burst
    expect(buckets.take(['a']).allowed).toBe(true);
    expect(buckets.take(['a']).allowed).toBe(true);
    expect(buckets.take(['a']).allowed).toBe(false);
  });

  it('take from every bucket or from none', () => {
    const buckets = new TokenBuckets(1, 1, 100, () => 0);
    expect(buckets.take(['ip:x', 'client:c']).allowed).toBe(true);
    expect(buckets.take(['ip:y', 'client:c']).allowed).toBe(false);
    // ip:y was not charged for the refused request.
    expect(buckets.take(['ip:y', 'client:d']).allowed).toBe(true);
  });

  it('keep memory bounded by forgetting the least recently used buckets', () => {
    const buckets = new TokenBuckets(1, 1, 3, () => 0);
    expect(buckets.take(['a']).allowed).toBe(true);
    for (const key of ['b', 'c']) buckets.take([key]);
    expect(buckets.take(['a']).allowed).toBe(false); // a is now the most recently used
    for (let i = 0; i < 50; i++) buckets.take([`k${i}`]);
    expect(buckets.size).toBe(3);
    // a was forgotten, so it comes back full.
    expect(buckets.take(['a']).allowed).toBe(true);
  });
});
