/**
 * Prometheus metrics at `GET /admin/metrics/prometheus` and request ids in `x-request-id`, after real
 * traffic through Ory's SDK and openid-client, on both stores.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/callback';

/** One sample's value from the exposition text, or undefined when the series does not exist. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe.each(STORES)('metrics on $name', (store) => {
  let server: TestServer;
  const scrape = async () => {
    const response = await fetch(`${server.adminUrl}/admin/metrics/prometheus`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  beforeAll(async () => {
    server = await startTestServer(store, { env: FLOW_ENV });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('counts requests per route pattern, tokens per grant type and flows started and completed', async () => {
    const before = await scrape();
    expect(sample(before, 'portcullis_tokens_issued_total{grant_type="client_credentials"}')).toBeUndefined();

    const { data: machine } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
    });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${server.publicUrl}/oauth2/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basicAuth(machine.client_id as string, machine.client_secret as string),
        },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(200);
    }
    // A refused token request is not an issued token.
    const refused = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(refused.status).toBe(401);

    const { data: app } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access',
      },
    });
    const rp = relyingParty(server, app.client_id as string, app.client_secret as string);
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid offline_access', state: 'state-metrics-1' });
    const { callback } = await runFlow(server, new Browser(), url.toString());
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'state-metrics-1' });
    await oidc.refreshTokenGrant(rp, tokens.refresh_token as string);
    // A second authorization request that is started but never finished.
    const abandoned = await new Browser().get(
      oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'state-metrics-2' }).toString(),
    );
    expect(abandoned.status).toBe(302);

    for (let i = 0; i < 3; i++) await server.admin.oauth2.getOAuth2Client({ id: machine.client_id as string });
    expect((await fetch(`${server.publicUrl}/no/such/route/${machine.client_id}`)).status).toBe(404);

    const after = await scrape();
    expect(sample(after, 'portcullis_tokens_issued_total{grant_type="client_credentials"}')).toBe(2);
    expect(sample(after, 'portcullis_tokens_issued_total{grant_type="authorization_code"}')).toBe(1);
    expect(sample(after, 'portcullis_tokens_issued_total{grant_type="refresh_token"}')).toBe(1);
    expect(sample(after, 'portcullis_flows_started_total{flow="authorization"}')).toBe(2);
    expect(sample(after, 'portcullis_flows_completed_total{flow="authorization"}')).toBe(1);
    expect(sample(after, 'portcullis_http_requests_total{listener="public",method="POST",route="/oauth2/token",status="200"}')).toBe(4);
    expect(sample(after, 'portcullis_http_requests_total{listener="public",method="POST",route="/oauth2/token",status="401"}')).toBe(1);
    expect(sample(after, 'portcullis_http_requests_total{listener="admin",method="GET",route="/admin/clients/:id",status="200"}')).toBe(3);
    expect(sample(after, 'portcullis_http_requests_total{listener="public",method="GET",route="",status="404"}')).toBe(1);
    expect(sample(after, 'portcullis_http_request_duration_seconds_count{listener="admin",method="GET",route="/admin/clients/:id"}')).toBe(
      3,
    );
    expect(
      sample(after, 'portcullis_http_request_duration_seconds_bucket{listener="admin",method="GET",route="/admin/clients/:id",le="+Inf"}'),
    ).toBe(3);
    // Route patterns, never raw URLs: no client id appears in any label.
    expect(after).not.toContain(machine.client_id as string);
    // The first scrape is itself counted by the second.
    expect(
      sample(after, 'portcullis_http_requests_total{listener="admin",method="GET",route="/admin/metrics/prometheus",status="200"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('returns the request id in x-request-id, the one the log line carries', async () => {
    const response = await fetch(`${server.adminUrl}/admin/clients`);
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const other = await fetch(`${server.publicUrl}/health/alive`);
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(other.headers.get('x-request-id')).not.toBe(id);
    const line = server.logs.find((entry) => entry.includes(id as string) && entry.includes('request completed'));
    expect(line).toBeDefined();
    // Errors carry it too.
    const missing = await fetch(`${server.adminUrl}/admin/clients/does-not-exist`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
