import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorJson } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

/** The shared error-JSON check, on a fetch Response. */
async function expectErrorResponse(response: Response, status: number) {
  return expectErrorJson({ status: response.status, headers: response.headers, text: await response.text() }, status);
}

describe.each(STORES)('bad input never corrupts or crashes ($name)', (store) => {
  let server: TestServer;
  const json = (method: string, path: string, body: string, contentType = 'application/json') =>
    fetch(`${server.adminUrl}${path}`, { method, headers: { 'content-type': contentType }, body });

  beforeAll(async () => {
    server = await startTestServer(store, { env: { SERVE_BODY_LIMIT: '65536' } });
    await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { client_id: 'keeper', client_name: 'Keeper', redirect_uris: ['https://keeper.example/cb'] },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const keeperUnchanged = async () => {
    const { data } = await server.admin.oauth2.getOAuth2Client({ id: 'keeper' });
    expect(data.client_name).toBe('Keeper');
    expect(data.redirect_uris).toEqual(['https://keeper.example/cb']);
    const { headers } = await server.admin.oauth2.listOAuth2Clients();
    expect(headers['x-total-count']).toBe('1');
  };

  it('malformed JSON → 400', async () => {
    await expectErrorResponse(await json('POST', '/admin/clients', '{"client_name": '), 400);
    await expectErrorResponse(await json('PUT', '/admin/clients/keeper', '{{{'), 400);
    await expectErrorResponse(await json('PATCH', '/admin/clients/keeper', '[{"op":'), 400);
    await expectErrorResponse(await json('POST', '/admin/keys/some-set', 'nope'), 400);
    await keeperUnchanged();
  });

  it('wrong types → 400 naming the field', async () => {
    const body = await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify({ client_name: 42 })), 400);
    expect(body.error_description).toContain('client_name');
    await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify({ redirect_uris: 'https://a.example/cb' })), 400);
    await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify({ skip_consent: 'yes' })), 400);
    await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify({ redirect_uris: [1, 2] })), 400);
    await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify(['not', 'an', 'object'])), 400);
    await expectErrorResponse(await json('POST', '/admin/clients', 'null'), 400);
    await expectErrorResponse(await json('PUT', '/admin/clients/keeper', JSON.stringify({ client_name: { nested: true } })), 400);
    await expectErrorResponse(await json('PATCH', '/admin/clients/keeper', JSON.stringify({ op: 'replace' })), 400);
    await expectErrorResponse(await json('PATCH', '/admin/clients/keeper', JSON.stringify([{ op: 'explode', path: '/client_name' }])), 400);
    await expectErrorResponse(
      await json('PUT', '/admin/clients/keeper/lifespans', JSON.stringify({ implicit_grant_id_token_lifespan: 5 })),
      400,
    );
    await expectErrorResponse(await json('POST', '/admin/keys/set-x', JSON.stringify({ alg: 'RS1', use: 'sig' })), 400);
    await keeperUnchanged();
  });

  it('oversized bodies → 413', async () => {
    const huge = JSON.stringify({ client_name: 'x'.repeat(70_000) });
    await expectErrorResponse(await json('POST', '/admin/clients', huge), 413);
    await expectErrorResponse(await json('PUT', '/admin/clients/keeper', huge), 413);
    await keeperUnchanged();
  });

  it('unsupported content types → 415, empty JSON bodies → 400', async () => {
    await expectErrorResponse(await json('POST', '/admin/clients', '<client/>', 'application/xml'), 415);
    await expectErrorResponse(await json('POST', '/admin/clients', '', 'application/json'), 400);
    await keeperUnchanged();
  });

  it('unknown routes → 404 error JSON on both listeners', async () => {
    await expectErrorResponse(await fetch(`${server.adminUrl}/admin/nothing-here`), 404);
    await expectErrorResponse(await fetch(`${server.publicUrl}/nothing-here`), 404);
    await expectErrorResponse(await fetch(`${server.publicUrl}/admin/clients`), 404); // the admin API is not on the public listener
  });

  it('hostile ids and paths never reach a 500', async () => {
    for (const id of ['%00', '..%2F..%2Fetc%2Fpasswd', encodeURIComponent("' or 1=1 --"), 'x'.repeat(900), '%F0%9F%92%A9', '%E0%A4%A']) {
      for (const method of ['GET', 'DELETE']) {
        const response = await fetch(`${server.adminUrl}/admin/clients/${id}`, { method });
        expect(response.status, `${method} ${id}`).toBeGreaterThanOrEqual(400);
        expect(response.status, `${method} ${id}`).toBeLessThan(500);
      }
      const keys = await fetch(`${server.adminUrl}/admin/keys/${id}`);
      expect(keys.status).toBeLessThan(500);
    }
    await keeperUnchanged();
  });

  it('garbage bodies on every admin write route stay below 500', async () => {
    await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_id: 'scratch' } });
    const bodies = [
      '',
      '0',
      '"s"',
      '[]',
      '{}',
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"x":1}}}',
      '[null]',
      '{"keys":[{}]}',
      '{"keys":"x"}',
    ];
    const routes: Array<[string, string]> = [
      ['POST', '/admin/clients'],
      ['PUT', '/admin/clients/scratch'],
      ['PATCH', '/admin/clients/scratch'],
      ['PUT', '/admin/clients/scratch/lifespans'],
      ['POST', '/admin/keys/garbage-set'],
      ['PUT', '/admin/keys/garbage-set'],
      ['PUT', '/admin/keys/garbage-set/kid-1'],
    ];
    for (const [method, path] of routes) {
      for (const body of bodies) {
        const response = await json(method, path, body);
        expect(response.status, `${method} ${path} ${body}`).toBeLessThan(500);
        await response.arrayBuffer();
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Some of those bodies were valid clients (`{}` is one); remove them before checking the keeper.
    for (const client of (await server.admin.oauth2.listOAuth2Clients()).data) {
      if (client.client_id !== 'keeper') await server.admin.oauth2.deleteOAuth2Client({ id: client.client_id as string });
    }
    await keeperUnchanged();
  });

  it('NUL bytes and other unstorable text → 400, not 500', async () => {
    await expectErrorResponse(await json('POST', '/admin/clients', JSON.stringify({ client_name: 'nul\u0000byte' })), 400);
    await expectErrorResponse(await fetch(`${server.adminUrl}/admin/clients?client_name=%00`), 400);
    await keeperUnchanged();
  });

  it('never logs secrets, tokens or query strings', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_secret: 'log-canary-secret-123' } });
    await fetch(`${server.adminUrl}/admin/clients?page_token=log-canary-query`);
    await fetch(`${server.publicUrl}/health/alive`, { headers: { authorization: 'Bearer log-canary-bearer' } });
    const logs = server.logs.join('');
    expect(logs).toContain('request completed');
    expect(logs).not.toContain('log-canary-secret-123');
    expect(logs).not.toContain(data.registration_access_token as string);
    expect(logs).not.toContain('log-canary-query');
    expect(logs).not.toContain('log-canary-bearer');
    await server.admin.oauth2.deleteOAuth2Client({ id: data.client_id as string });
  });
});
