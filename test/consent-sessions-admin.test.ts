/**
 * `GET /admin/oauth2/auth/sessions/consent` pages as Hydra HEAD's keyset pagination does
 * (`page_size` 100 by default, at most 500; a sealed `page_token`; `Link` first/next; the total in
 * x-total-count), and `DELETE …?consent_request_id=` alone revokes that one consent. Driven by Ory's
 * SDK and fetch, on every store; the consents are recorded through the store, as a flow records them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentSession } from '../src/flow/session-store.js';
import { expectErrorJson } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

describe.each(STORES)('consent sessions admin ($name)', (store) => {
  let server: TestServer;
  let clientId: string;
  beforeAll(async () => {
    server = await startTestServer(store);
    clientId = (await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_name: 'consents' } })).data.client_id as string;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function record(id: string, subject: string, loginSessionId = ''): Promise<void> {
    const consent: ConsentSession = {
      id,
      clientId,
      subject,
      loginSessionId,
      grantScope: ['openid'],
      grantAudience: [],
      remember: true,
      rememberFor: 0,
      handledAt: Date.now(),
      document: { consent_request: { challenge: id }, grant_scope: ['openid'] },
    };
    expect(await server.registry.sessions.insertConsent(consent)).toBe(true);
  }
  const list = (query: string) => fetch(`${server.adminUrl}/admin/oauth2/auth/sessions/consent?${query}`);
  const challenges = async (answer: Response) =>
    ((await answer.json()) as { consent_request: { challenge: string } }[]).map((c) => c.consent_request.challenge);
  const nextOf = (answer: Response) => /<([^>]+)>; rel="next"/.exec(answer.headers.get('link') ?? '')?.[1];

  it('pages by page_size in id order, following the Link header’s next page to the end', async () => {
    const subject = `paged-${store.name}`;
    for (const id of ['c-3', 'c-1', 'c-5', 'c-2', 'c-4']) await record(`${subject}-${id}`, subject, id === 'c-5' ? 'ls-x' : '');
    const first = await list(`subject=${subject}&page_size=2`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-total-count')).toBe('5');
    expect(first.headers.get('link')).toContain(`</admin/oauth2/auth/sessions/consent?subject=${subject}&page_size=2>; rel="first"`);
    const seen = await challenges(first);
    expect(seen).toEqual([`${subject}-c-1`, `${subject}-c-2`]);
    let next = nextOf(first);
    while (next) {
      const page = await fetch(`${server.adminUrl}${next}`);
      expect(page.status).toBe(200);
      seen.push(...(await challenges(page)));
      next = nextOf(page);
    }
    expect(seen).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5'].map((id) => `${subject}-${id}`));

    // Through Ory's SDK: the default page holds them all, with only a first link.
    const sdk = await server.admin.oauth2.listOAuth2ConsentSessions({ subject });
    expect(sdk.data).toHaveLength(5);
    expect(sdk.headers.link).toBe(`</admin/oauth2/auth/sessions/consent?subject=${subject}&page_size=100>; rel="first"`);
    const ofSession = await server.admin.oauth2.listOAuth2ConsentSessions({ subject, loginSessionId: 'ls-x' });
    expect(ofSession.data.map((c) => c.consent_request?.challenge)).toEqual([`${subject}-c-5`]);
    expect(ofSession.headers['x-total-count']).toBe('1');

    // Hydra's sizes: 0 means the default, more than 500 is 500.
    expect((await list(`subject=${subject}&page_size=0`)).headers.get('link')).toContain('page_size=100>');
    expect((await list(`subject=${subject}&page_size=9999`)).headers.get('link')).toContain('page_size=500>');
  });

  it('refuses a page_token it did not seal, and a malformed page_size, with 400', async () => {
    for (const query of ['subject=x&page_token=forged', 'subject=x&page_size=-1', 'subject=x&page_size=ten']) {
      const answer = await list(query);
      expectErrorJson({ status: answer.status, headers: answer.headers, text: await answer.text() }, 400);
    }
  });

  it('DELETE with consent_request_id alone revokes that one consent', async () => {
    const subject = `revoked-${store.name}`;
    await record(`${subject}-keep`, subject);
    await record(`${subject}-drop`, subject);
    await server.admin.oauth2.revokeOAuth2ConsentSessions({ consentRequestId: `${subject}-drop` });
    expect(await challenges(await list(`subject=${subject}`))).toEqual([`${subject}-keep`]);
  });
});
