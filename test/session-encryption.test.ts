/**
 * `oauth2.session.encrypt_at_rest` (issue 14 #3, Hydra's default true): the session data stored with tokens
 * and consents is sealed with `secrets.system`, still answers introspection and the consent session API,
 * opens after a rotation, and rows written unsealed before stay readable. On every store: the columns are
 * read with SQL of their own, the tokens through openid-client and Ory's SDK.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../src/crypto/keyring.js';
import { PLAIN_SESSIONS, SessionSealing } from '../src/persistence/session-sealing.js';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { openSql, STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
const SYSTEM = 'test-secret-0123456789abcdef';
const ROTATED = 'rotated-secret-0123456789abcdef';
const ACCESS_EXT = { tier: 'platinum-canary' };
const ID_CLAIMS = { email: 'canary@example.com' };

describe.each(STORES)('session data at rest ($name)', (store) => {
  let first: TestServer;
  const others: TestServer[] = [];
  beforeAll(async () => {
    first = await startTestServer(store, { env: FLOW_ENV });
  });
  afterAll(async () => {
    for (const server of others) await server.close();
    await first?.close();
  });

  async function serverOnSameData(env: Record<string, string>): Promise<TestServer> {
    const server = await startTestServer(store, { dsn: first.config.dsn, env: { ...FLOW_ENV, ...env } });
    others.push(server);
    return server;
  }

  /** Tokens of a code flow on `server`, the consent granting ACCESS_EXT and ID_CLAIMS. */
  async function tokensFrom(server: TestServer) {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [REDIRECT], scope: 'openid offline_access' },
    });
    const rp = relyingParty(server, data.client_id as string, data.client_secret as string);
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid offline_access', state: 'sealed-state' });
    const { callback } = await runFlow(server, new Browser(), url.toString(), {
      login: { subject: 'sealed-subject' },
      consent: { access_token: ACCESS_EXT, id_token: ID_CLAIMS },
    });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'sealed-state' });
    return { tokens, clientId: data.client_id as string };
  }

  /** The stored session columns of a client's tokens and consents, each with the key of its row. */
  async function storedColumns(clientId: string): Promise<Array<[column: string, rowKey: string]>> {
    const sql = await openSql(first.config.dsn);
    try {
      const tokens = await sql.all('select signature, session from oauth2_tokens where client_id = $1', [clientId]);
      const consents = await sql.all('select id, document from consent_sessions where client_id = $1', [clientId]);
      expect(tokens.length).toBeGreaterThanOrEqual(2);
      expect(consents).toHaveLength(1);
      return [
        ...tokens.map((row) => [String(row.session), String(row.signature)] as [string, string]),
        ...consents.map((row) => [String(row.document), String(row.id)] as [string, string]),
      ];
    } finally {
      await sql.close();
    }
  }

  async function expectReadable(server: TestServer, accessToken: string, clientId: string) {
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: accessToken });
    expect(data.active).toBe(true);
    expect(data.ext).toEqual(ACCESS_EXT);
    const consents = await server.admin.oauth2.listOAuth2ConsentSessions({ subject: 'sealed-subject' });
    const consent = consents.data.find((session) => session.consent_request?.client?.client_id === clientId);
    expect(consent?.session?.access_token).toEqual(ACCESS_EXT);
    expect(consent?.session?.id_token).toEqual(ID_CLAIMS);
  }

  it('seals the session column of tokens and the consent document by default, and still answers from them', async () => {
    const { tokens, clientId } = await tokensFrom(first);
    for (const [column] of await storedColumns(clientId)) {
      expect(column).toMatch(/^v1\./);
      expect(column).not.toContain('platinum-canary');
      expect(column).not.toContain('canary@example.com');
    }
    await expectReadable(first, tokens.access_token, clientId);
  });

  it('opens rows sealed with an older secret after `secrets.system` is rotated', async () => {
    const { tokens, clientId } = await tokensFrom(first);
    const rotated = await serverOnSameData({ SECRETS_SYSTEM: `${ROTATED},${SYSTEM}` });
    await expectReadable(rotated, tokens.access_token, clientId);
    // What the rotated server writes is sealed with the new secret, which the old one alone does not open.
    const fresh = await tokensFrom(rotated);
    const oldOnly = new SessionSealing({ keyring: new Keyring([SYSTEM]), encrypt: true });
    const newOnly = new SessionSealing({ keyring: new Keyring([ROTATED]), encrypt: true });
    for (const [column, rowKey] of await storedColumns(fresh.clientId)) {
      expect(oldOnly.read(column, rowKey)).toBeUndefined();
      expect(newOnly.read(column, rowKey)).toBeTruthy();
    }
  });

  it('stores plain JSON with `encrypt_at_rest: false`, and those rows stay readable once sealing is on', async () => {
    const plain = await serverOnSameData({ OAUTH2_SESSION_ENCRYPT_AT_REST: 'false' });
    const { tokens, clientId } = await tokensFrom(plain);
    for (const [column] of await storedColumns(clientId)) {
      expect(column.startsWith('{')).toBe(true);
      expect(column).toContain('platinum-canary');
    }
    // The sealing server reads the unsealed rows as they are.
    await expectReadable(first, tokens.access_token, clientId);
  });
});

describe('SessionSealing', () => {
  const sealing = new SessionSealing({ keyring: new Keyring([SYSTEM]), encrypt: true });

  it('binds a sealed value to its row: copied into another row it does not open', () => {
    const sealed = sealing.write({ ext: ACCESS_EXT }, 'row-a');
    expect(sealing.read(sealed, 'row-a')).toEqual({ ext: ACCESS_EXT });
    expect(sealing.read(sealed, 'row-b')).toBeUndefined();
  });

  it('reads a value opened before as a fresh object each time, and an altered one not at all', () => {
    const sealed = sealing.write({ ext: { tier: 'gold' } }, 'row-c');
    const first = sealing.read<{ ext: Record<string, string> }>(sealed, 'row-c');
    (first as { ext: Record<string, string> }).ext.tier = 'changed by a caller';
    expect(sealing.read(sealed, 'row-c')).toEqual({ ext: { tier: 'gold' } });
    const flipped = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(sealing.read(flipped, 'row-c')).toBeUndefined();
    expect(sealing.read(sealed, 'row-d')).toBeUndefined();
  });

  it('opens nothing sealed without the keyring, and reads plain JSON either way', () => {
    expect(PLAIN_SESSIONS.read(sealing.write({ a: 1 }, 'row'), 'row')).toBeUndefined();
    expect(PLAIN_SESSIONS.read('{"a":1}', 'row')).toEqual({ a: 1 });
    expect(sealing.read('{"a":1}', 'row')).toEqual({ a: 1 });
    expect(new SessionSealing({ keyring: new Keyring([SYSTEM]), encrypt: false }).write({ a: 1 }, 'row')).toBe('{"a":1}');
  });
});
