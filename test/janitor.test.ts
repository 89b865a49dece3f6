/**
 * The janitor (src/janitor): what it deletes and what it must leave, batching and limits, the
 * scheduled run inside `serve`, on both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJanitor } from '../src/janitor/janitor.js';
import type { TokenRow } from '../src/persistence/tables.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ALL = { tokens: true, requests: true, grants: true } as const;

function tokenRow(signature: string, clientId: string, fields: Partial<TokenRow>): TokenRow {
  return {
    signature,
    kind: 'access_token',
    request_id: `req-${signature}`,
    client_id: clientId,
    consent_id: null,
    subject: 'someone',
    scope: '',
    audience: '[]',
    session: JSON.stringify({ grantType: 'client_credentials', ext: {} }),
    requested_at: Date.now() - HOUR,
    expires_at: Date.now() + DAY,
    active: 1,
    used_at: null,
    used_count: 0,
    ...fields,
  };
}

async function createClient(server: TestServer): Promise<{ id: string; secret: string }> {
  const { data } = await server.admin.oauth2.createOAuth2Client({
    oAuth2Client: { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
  });
  return { id: data.client_id as string, secret: data.client_secret as string };
}

async function clientCredentialsToken(server: TestServer, client: { id: string; secret: string }): Promise<string> {
  const response = await fetch(`${server.publicUrl}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basicAuth(client.id, client.secret),
    },
    body: 'grant_type=client_credentials',
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe.each(STORES)('janitor on $name', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server?.close();
  });

  const signatures = async (clientId: string) =>
    (await server.registry.database.db.selectFrom('oauth2_tokens').select('signature').where('client_id', '=', clientId).execute())
      .map((r) => r.signature)
      .sort();

  it('removes only expired, revoked and used tokens, ended sessions, unneeded consents and expired jtis', async () => {
    const db = server.registry.database.db;
    const client = await createClient(server);
    const live = await clientCredentialsToken(server, client);
    const before = await signatures(client.id);
    expect(before).toHaveLength(1);
    const now = Date.now();
    const consent = (id: string, remember: number, rememberFor: number, handledAt: number) => ({
      id,
      client_id: client.id,
      subject: 'someone',
      login_session_id: 'ls',
      granted_scope: '[]',
      granted_audience: '[]',
      remember,
      remember_for: rememberFor,
      handled_at: handledAt,
      document: '{}',
    });
    await db
      .insertInto('consent_sessions')
      .values([
        consent('c-forgotten', 0, 0, now - 2 * DAY),
        consent('c-has-live-token', 0, 0, now - 2 * DAY),
        consent('c-has-expired-token', 0, 0, now - 2 * DAY),
        consent('c-remembered-forever', 1, 0, now - 2 * DAY),
        consent('c-remembered-elapsed', 1, 3600, now - 2 * DAY),
        consent('c-remembered-current', 1, 30 * 86_400, now - 2 * DAY),
        consent('c-remembered-elapsed-with-token', 1, 3600, now - 2 * DAY),
        consent('c-forgotten-recent', 0, 0, now - HOUR),
      ])
      .execute();
    await db
      .insertInto('oauth2_tokens')
      .values([
        tokenRow('active-future', client.id, { consent_id: 'c-has-live-token', kind: 'refresh_token' }),
        tokenRow('active-forever', client.id, { expires_at: 0, kind: 'refresh_token', consent_id: 'c-remembered-elapsed-with-token' }),
        tokenRow('expired-old', client.id, { expires_at: now - 2 * DAY, consent_id: 'c-has-expired-token' }),
        tokenRow('expired-recent', client.id, { expires_at: now - HOUR }),
        tokenRow('revoked-old', client.id, { active: 0, requested_at: now - 3 * DAY }),
        tokenRow('used-recent', client.id, { active: 0, kind: 'refresh_token', requested_at: now - 3 * DAY, used_at: now - HOUR }),
        tokenRow('used-old', client.id, { active: 0, kind: 'authorization_code', requested_at: now - 3 * DAY, used_at: now - 2 * DAY }),
      ])
      .execute();
    const login = (id: string, expiresAt: number) => ({
      id,
      subject: 'someone',
      authenticated_at: now - 3 * DAY,
      remember: 1,
      expires_at: expiresAt,
      identity_provider_session_id: '',
    });
    await db
      .insertInto('login_sessions')
      .values([login('ls-ended', now - 2 * DAY), login('ls-ended-recently', now - HOUR), login('ls-current', now + DAY)])
      .execute();
    await db
      .insertInto('used_jtis')
      .values([
        { jti_hash: 'jti-old', expires_at: now - 2 * DAY },
        { jti_hash: 'jti-recent', expires_at: now - HOUR },
        { jti_hash: 'jti-current', expires_at: now + DAY },
      ])
      .execute();

    // Keep what ended less than a day ago.
    const first = await runJanitor(server.registry.persister, { ...ALL, limit: 10_000, batchSize: 100, keepIfYounger: DAY, now });
    expect(first).toMatchObject({ tokens: 3, loginSessions: 1, consentSessions: 3, usedJtis: 1 });
    expect(await signatures(client.id)).toEqual([...before, 'active-future', 'active-forever', 'expired-recent', 'used-recent'].sort());
    const consents = (await db.selectFrom('consent_sessions').select('id').where('client_id', '=', client.id).execute())
      .map((r) => r.id)
      .sort();
    expect(consents).toEqual(
      ['c-has-live-token', 'c-remembered-forever', 'c-remembered-current', 'c-remembered-elapsed-with-token', 'c-forgotten-recent'].sort(),
    );
    const logins = (await db.selectFrom('login_sessions').select('id').where('id', 'like', 'ls-%').execute()).map((r) => r.id).sort();
    expect(logins).toEqual(['ls-current', 'ls-ended-recently']);
    const jtis = (await db.selectFrom('used_jtis').select('jti_hash').where('jti_hash', 'like', 'jti-%').execute()).map((r) => r.jti_hash);
    expect(jtis.sort()).toEqual(['jti-current', 'jti-recent']);

    // Only tokens: sessions stay even without a keep window.
    const tokensOnly = await runJanitor(server.registry.persister, {
      tokens: true,
      requests: false,
      grants: false,
      limit: 10_000,
      batchSize: 100,
      keepIfYounger: 0,
    });
    expect(tokensOnly).toMatchObject({ tokens: 2, loginSessions: 0, consentSessions: 0, usedJtis: 0 });
    expect(await signatures(client.id)).toEqual([...before, 'active-future', 'active-forever'].sort());

    // Everything else, with no keep window.
    const rest = await runJanitor(server.registry.persister, { ...ALL, limit: 10_000, batchSize: 100, keepIfYounger: 0 });
    expect(rest).toMatchObject({ tokens: 0, loginSessions: 1, consentSessions: 1, usedJtis: 1 });
    expect(await signatures(client.id)).toEqual([...before, 'active-future', 'active-forever'].sort());

    // The live token still works.
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: live });
    expect(data.active).toBe(true);
    expect(data.client_id).toBe(client.id);
  });

  it('deletes in batches of --batch-size and stops at --limit', async () => {
    const db = server.registry.database.db;
    const client = await createClient(server);
    const now = Date.now();
    await db
      .insertInto('oauth2_tokens')
      .values(Array.from({ length: 25 }, (_, i) => tokenRow(`batch-${client.id}-${i}`, client.id, { expires_at: now - DAY })))
      .execute();
    await db
      .insertInto('oauth2_tokens')
      .values(Array.from({ length: 3 }, (_, i) => tokenRow(`keep-${client.id}-${i}`, client.id, {})))
      .execute();
    const limited = await runJanitor(server.registry.persister, {
      tokens: true,
      requests: false,
      grants: false,
      limit: 12,
      batchSize: 5,
      keepIfYounger: 0,
    });
    expect(limited.tokens).toBe(12);
    expect(limited.statements).toBe(4); // 5 + 5 + 2 tokens, then one (empty) batch of device codes
    expect(await signatures(client.id)).toHaveLength(16);
    const rest = await runJanitor(server.registry.persister, {
      tokens: true,
      requests: false,
      grants: false,
      limit: 1000,
      batchSize: 4,
      keepIfYounger: 0,
    });
    expect(rest.tokens).toBe(13);
    // Expired: 4 + 4 + 4 + 1 (short: done); revoked and used: one empty batch; then the device codes.
    expect(rest.statements).toBe(6);
    expect(await signatures(client.id)).toEqual(Array.from({ length: 3 }, (_, i) => `keep-${client.id}-${i}`).sort());

    // Revoked tokens (unexpired) among live ones: the second pass walks the keys in batches, each after the last.
    await db
      .insertInto('oauth2_tokens')
      .values(Array.from({ length: 7 }, (_, i) => tokenRow(`m-${i}-revoked-${client.id}`, client.id, { active: 0, used_at: now - HOUR })))
      .execute();
    const revoked = await runJanitor(server.registry.persister, {
      tokens: true,
      requests: false,
      grants: false,
      limit: 1000,
      batchSize: 3,
      keepIfYounger: 0,
    });
    expect(revoked.tokens).toBe(7);
    expect(revoked.statements).toBe(5); // expired: one empty batch; revoked: 3 + 3 + 1; the device codes
    expect(await signatures(client.id)).toEqual(Array.from({ length: 3 }, (_, i) => `keep-${client.id}-${i}`).sort());
    await expect(runJanitor(server.registry.persister, { ...ALL, limit: 0, batchSize: 5, keepIfYounger: 0 })).rejects.toThrow(/limit/);
    await expect(runJanitor(server.registry.persister, { ...ALL, limit: 5, batchSize: 0, keepIfYounger: 0 })).rejects.toThrow(/batch size/);
  });
});

describe.each(STORES)('scheduled janitor inside serve on $name', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { env: { JANITOR_SCHEDULE: '100ms', JANITOR_BATCH_SIZE: '2' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('runs by itself, logs its results and counts them in the metrics', async () => {
    const db = server.registry.database.db;
    const client = await createClient(server);
    const live = await clientCredentialsToken(server, client);
    await db
      .insertInto('oauth2_tokens')
      .values(Array.from({ length: 5 }, (_, i) => tokenRow(`sched-${i}`, client.id, { expires_at: Date.now() - HOUR })))
      .execute();
    const deadline = Date.now() + 10_000;
    let left = 5;
    while (Date.now() < deadline) {
      left = (await db.selectFrom('oauth2_tokens').select('signature').where('signature', 'like', 'sched-%').execute()).length;
      // The run that deleted them logs (and counts) once every table is swept: wait for its line too.
      const logged = server.logs.some((line) => line.includes('janitor run finished') && /"tokens":[1-9]/.test(line));
      if (left === 0 && logged) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(left).toBe(0);
    expect(server.logs.some((line) => line.includes('janitor run finished'))).toBe(true);
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: live });
    expect(data.active).toBe(true);
    const metrics = await (await fetch(`${server.adminUrl}/admin/metrics/prometheus`)).text();
    const deleted = /^portcullis_janitor_deleted_rows_total\{table="tokens"\} (\d+)$/m.exec(metrics);
    expect(Number(deleted?.[1])).toBeGreaterThanOrEqual(5);
    expect(metrics).toMatch(/^portcullis_janitor_runs_total\{outcome="ok"\} [1-9]/m);
  });
});
