/**
 * Issue 12, credentials and sessions: the admin session endpoints' errors, `id_token_hint` at the
 * authorization endpoint, the issuer check and cookie secrets, the shared client-authentication rate
 * limit, and deleting a user. Every test drives the server over HTTP on both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_ENV } from './support/browser.js';
import { type Answer, admin, type Client, CodeFlow, introspect } from './support/http-flow.js';
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
});
