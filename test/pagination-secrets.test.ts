/**
 * `secrets.pagination` (issue 14 #3): the admin client list's page tokens are sealed with it, as Hydra
 * encrypts its page tokens; the first secret seals, all open, and a token sealed with no configured secret
 * (or written by hand) is a 400. Paged with Ory's SDK, following the Link header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const OLD = 'pagination-secret-old-0123456789';
const NEW = 'pagination-secret-new-0123456789';

describe.each(STORES)('page tokens sealed with secrets.pagination ($name)', (store) => {
  let first: TestServer;
  const others: TestServer[] = [];
  beforeAll(async () => {
    first = await startTestServer(store, { env: { SECRETS_PAGINATION: OLD } });
    for (let i = 0; i < 3; i++) await first.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_id: `page-${i}`, owner: 'pager' } });
  });
  afterAll(async () => {
    for (const server of others) await server.close();
    await first?.close();
  });

  /** The page_token of the `next` link of the first page of two. */
  async function nextToken(server: TestServer): Promise<string> {
    const response = await server.admin.oauth2.listOAuth2Clients({ pageSize: 2, owner: 'pager' });
    const next = /<([^>]+)>; rel="next"/.exec(response.headers.link as string);
    return new URL(next?.[1] as string, 'http://x').searchParams.get('page_token') as string;
  }

  const secondPage = (server: TestServer, pageToken: string) =>
    fetch(`${server.adminUrl}/admin/clients?page_size=2&owner=pager&page_token=${encodeURIComponent(pageToken)}`);

  it('hands out tokens that do not show the id they continue after, and pages with them', async () => {
    const token = await nextToken(first);
    expect(Buffer.from(token, 'base64url').toString('latin1')).not.toContain('page-1');
    const { data } = await first.admin.oauth2.listOAuth2Clients({ pageSize: 2, owner: 'pager', pageToken: token });
    expect(data.map((client) => client.client_id)).toEqual(['page-2']);
  });

  it('refuses a token written by hand, as the unsealed format was', async () => {
    const forged = Buffer.from(JSON.stringify({ after: 'page-0' })).toString('base64url');
    const response = await secondPage(first, forged);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error_description?: string; error: string }).error).toBeTruthy();
  });

  it('opens tokens of an older secret after a rotation, and refuses them once that secret is gone', async () => {
    const token = await nextToken(first);
    const rotated = await startTestServer(store, { dsn: first.config.dsn, env: { SECRETS_PAGINATION: `${NEW},${OLD}` } });
    others.push(rotated);
    const page = await secondPage(rotated, token);
    expect(page.status).toBe(200);
    expect(((await page.json()) as Array<{ client_id: string }>).map((client) => client.client_id)).toEqual(['page-2']);
    // New tokens are sealed with the new secret: the server that only knows the old one cannot open them.
    expect((await secondPage(first, await nextToken(rotated))).status).toBe(400);

    const retired = await startTestServer(store, { dsn: first.config.dsn, env: { SECRETS_PAGINATION: NEW } });
    others.push(retired);
    expect((await secondPage(retired, token)).status).toBe(400);
  });

  it('seals with secrets.system when secrets.pagination is not set', async () => {
    const system = await startTestServer(store, { dsn: first.config.dsn });
    others.push(system);
    const token = await nextToken(system);
    expect((await secondPage(system, token)).status).toBe(200);
    expect((await secondPage(first, token)).status).toBe(400);
  });
});
