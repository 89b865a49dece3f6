/**
 * Many nodes, one database: two `portcullis serve all` processes (production mode, loopback issuer) on one
 * PostgreSQL schema, or one MySQL database, with the same secrets, as behind a load balancer. Flows cross the nodes step by step;
 * racing refreshes leave one winner; keys and clients changed on one node are seen by the other within
 * `cache.ttl` (docs/storage.md, "Many nodes").
 */
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_ENV } from './support/browser.js';
import { type CliNode, killAll, migrateUp, sleep, startNode } from './support/cli.js';
import { admin, type Client, CodeFlow, introspect, type NodeUrls, REDIRECT_URI, token } from './support/http-flow.js';
import { freePort } from './support/server.js';
import { type DirectSql, openSql, STORES } from './support/stores.js';

const CACHE_TTL_MS = 1000;
/** Scheduling slack on a busy two-core runner, on top of the bound. */
const MARGIN_MS = 1500;
const LOGOUT_URL = 'http://logout.test/logout';
const ID_TOKEN_SET = 'hydra.openid.id-token';
/** The stores several processes can share (SQLite is one node's). */
const SHARED_STORES = STORES.filter((store) => store.name !== 'sqlite');

/** Polls `check` until it holds, returning how long that took; fails after `timeoutMs`. */
async function within(timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`not seen within ${timeoutMs}ms`);
    await sleep(50);
  }
}

describe.each(SHARED_STORES)('two nodes on one $name database', (store) => {
  let a: CliNode;
  let b: CliNode;
  let issuer: string;
  let drop: () => Promise<void>;
  let db: DirectSql;
  let rp: Client;

  beforeAll(async () => {
    const data = await store.create();
    drop = data.drop;
    await migrateUp(data.dsn);
    const portsA = { public: await freePort(), admin: await freePort() };
    const portsB = { public: await freePort(), admin: await freePort() };
    // One issuer for both, as behind a load balancer: redirects after each app's answer go to node A.
    issuer = `http://127.0.0.1:${portsA.public}/`;
    const env = {
      DSN: data.dsn,
      SECRETS_SYSTEM: 'many-nodes-secret-0123456789',
      URLS_SELF_ISSUER: issuer,
      CACHE_TTL: `${CACHE_TTL_MS}ms`,
      URLS_LOGOUT: LOGOUT_URL,
      LOG_LEVEL: 'warn',
      ...FLOW_ENV,
    };
    [a, b] = await Promise.all([startNode({ env, ports: portsA }), startNode({ env, ports: portsB })]);
    db = await openSql(data.dsn);
    rp = await createClient(a, {});
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    killAll();
    await db?.close();
    await drop?.();
  });

  async function createClient(node: NodeUrls, extra: Record<string, unknown>): Promise<Client> {
    const created = await admin(node, 'POST', '/admin/clients', {
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: ['https://rp.example/bye'],
      scope: 'openid offline_access',
      ...extra,
    });
    expect(created.status).toBe(201);
    return { id: created.body.client_id as string, secret: created.body.client_secret as string };
  }

  /** A whole flow: authorization on A, login accepted on B, consent on A, code exchanged on A. */
  async function tokensFor(client: Client): Promise<Record<string, unknown>> {
    const flow = new CodeFlow(client);
    for (const node of [a, b, a, a, a, a]) await flow.step(node);
    expect(flow.error).toBeUndefined();
    expect(flow.tokens).toBeDefined();
    return flow.tokens as Record<string, unknown>;
  }

  const jwksOf = async (node: NodeUrls): Promise<JWK[]> =>
    ((await (await fetch(`${node.publicUrl}/.well-known/jwks.json`)).json()) as { keys: JWK[] }).keys;

  /** A private RSA signing JWK generated now, to be labelled with its kid later. */
  async function nextRsaKey(): Promise<(kid: string) => Promise<JWK>> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    return async (kid) => ({ ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' });
  }

  const refresh = (node: NodeUrls, client: Client, refreshToken: string) =>
    token(node, client, { grant_type: 'refresh_token', refresh_token: refreshToken });

  /** Starts an RP-initiated logout; returns the logout challenge, or undefined when the node refused the request. */
  async function startLogout(node: NodeUrls, idToken: string, flow: CodeFlow): Promise<string | undefined> {
    const query = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: 'https://rp.example/bye', state: 'bye-state' });
    const response = await flow.browser.get(`${node.publicUrl}/oauth2/sessions/logout?${query}`);
    await response.body?.cancel();
    const location = response.headers.get('location') ?? '';
    return location.startsWith(LOGOUT_URL) ? (new URL(location).searchParams.get('logout_challenge') ?? undefined) : undefined;
  }

  it('runs a flow whose every step lands on another node, through refresh, userinfo, introspection and logout', async () => {
    const flow = new CodeFlow(rp);
    await flow.step(a); // authorization request on A
    expect(flow.stage).toBe('login');
    await flow.step(b); // login accepted through B's admin API
    await flow.step(a); // browser back on A with the login verifier
    expect(flow.stage).toBe('consent');
    await flow.step(a); // consent accepted through A's admin API
    await flow.step(b); // browser brings the consent verifier to B
    expect(flow.stage).toBe('code');
    await flow.step(a); // code exchanged on A
    expect(flow.error).toBeUndefined();
    expect(flow.statuses.every((status) => status < 400)).toBe(true);
    const first = flow.tokens as Record<string, string>;

    // The ID token A signed verifies with B's published keys.
    const keysOfB = createLocalJWKSet({ keys: await jwksOf(b) });
    const { payload } = await jwtVerify(first.id_token as string, keysOfB, { issuer, audience: rp.id });
    expect(payload).toMatchObject({ sub: 'alice', nonce: flow.nonce, email: 'alice@example.com' });

    // Refresh on B: the new pair works everywhere, the old access token is dead everywhere.
    const refreshed = await refresh(b, rp, first.refresh_token as string);
    expect(refreshed.status).toBe(200);
    const second = refreshed.body as Record<string, string>;
    for (const node of [a, b]) {
      expect(await introspect(node, first.access_token as string)).toMatchObject({ active: false });
      expect(await introspect(node, second.access_token as string)).toMatchObject({ active: true, sub: 'alice', client_id: rp.id });
      expect(await introspect(node, second.refresh_token as string)).toMatchObject({ active: true, token_use: 'refresh_token' });
      const userinfo = await fetch(`${node.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${second.access_token}` } });
      expect(userinfo.status).toBe(200);
      expect(await userinfo.json()).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
    }
    const sid = (await jwtVerify(second.id_token as string, keysOfB)).payload.sid as string;
    expect(sid).toBeTruthy();
    expect(await db.all('select id from login_sessions where id = $1', [sid])).toHaveLength(1);

    // RP-initiated logout started on B, accepted through B's admin API, finished on A.
    const challenge = await startLogout(b, second.id_token as string, flow);
    expect(challenge).toBeTruthy();
    const accepted = await admin(
      b,
      'PUT',
      `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${encodeURIComponent(challenge as string)}`,
    );
    expect(accepted.status).toBe(200);
    const verifierUrl = accepted.body.redirect_to as string;
    expect(verifierUrl.startsWith(a.publicUrl)).toBe(true);
    const finished = await flow.browser.follow(verifierUrl);
    const done = new URL(finished.url);
    expect(`${done.origin}${done.pathname}`).toBe('https://rp.example/bye');
    expect(done.searchParams.get('state')).toBe('bye-state');
    // The login session is gone for both nodes: the other node answers its challenge with 410.
    expect(await db.all('select id from login_sessions where id = $1', [sid])).toHaveLength(0);
    const replay = await admin(a, 'GET', `/admin/oauth2/auth/requests/logout?logout_challenge=${encodeURIComponent(challenge as string)}`);
    expect(replay.status).toBe(410);
  });

  it('lets exactly one of two refreshes racing on two nodes win, and keeps the family consistent', async () => {
    const client = await createClient(a, {});
    let current = (await tokensFor(client)).refresh_token as string;
    const outcomes = { raced: 0, reused: 0 };
    const ROUNDS = 8;
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all([refresh(a, client, current), refresh(b, client, current)]);
      const winners = answers.filter((answer) => answer.status === 200);
      expect(winners, JSON.stringify(answers)).toHaveLength(1);
      const winner = (winners[0] as (typeof answers)[0]).body as Record<string, string>;
      const loser = answers.find((answer) => answer.status !== 200) as (typeof answers)[0];
      expect(loser.status).toBe(400);
      if (loser.body.error === 'invalid_request') {
        // A true race (both read the token while it was active): nothing revoked, the winner's pair works on both nodes.
        outcomes.raced++;
        for (const node of [a, b]) {
          expect(await introspect(node, winner.access_token as string)).toMatchObject({ active: true });
          expect(await introspect(node, winner.refresh_token as string)).toMatchObject({ active: true });
        }
        current = winner.refresh_token as string;
      } else {
        // The loser read the token after the winner had committed: a reuse, which revokes the whole grant (winner's pair too).
        expect(loser.body.error).toBe('invalid_grant');
        outcomes.reused++;
        expect(await introspect(b, winner.access_token as string)).toMatchObject({ active: false });
        expect(await introspect(a, winner.refresh_token as string)).toMatchObject({ active: false });
        current = (await tokensFor(client)).refresh_token as string;
      }
    }
    // The last winner's refresh token still works.
    const last = await refresh(b, client, current);
    expect(last.status).toBe(200);

    // One grant per flow started (no second family from a race); at most one live refresh token in each.
    // Counted with sum(case …): MySQL has no `count(*) filter (…)`.
    const grants = await db.all(
      `select request_id, sum(case when kind = 'refresh_token' then 1 else 0 end) as refresh,
              sum(case when kind = 'refresh_token' and active = 1 then 1 else 0 end) as active
         from oauth2_tokens where client_id = $1 and kind <> 'authorization_code' group by request_id`,
      [client.id],
    );
    expect(grants).toHaveLength(1 + outcomes.reused);
    const codes = await db.all(`select distinct request_id from oauth2_tokens where client_id = $1 and kind = 'authorization_code'`, [
      client.id,
    ]);
    expect(new Set(codes.map((row) => row.request_id))).toEqual(new Set(grants.map((row) => row.request_id)));
    expect(grants.filter((row) => Number(row.active) === 1)).toHaveLength(1);
    expect(grants.every((row) => Number(row.active) <= 1)).toBe(true);
    // Every winning round added one refresh token to its grant: 1 from the code, +1 per win, +1 for the final refresh.
    const totalRefresh = grants.reduce((sum, row) => sum + Number(row.refresh), 0);
    expect(totalRefresh).toBe(1 + outcomes.reused + ROUNDS + 1);

    // Presented again after the other node finished with it, the spent token is a reuse: the grant dies on both nodes.
    const reuse = await refresh(a, client, current);
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    for (const node of [a, b]) {
      expect(await introspect(node, last.body.access_token as string)).toMatchObject({ active: false });
      expect(await introspect(node, last.body.refresh_token as string)).toMatchObject({ active: false });
    }
    console.info(`racing refreshes: ${outcomes.raced} true races, ${outcomes.reused} late reuses`);
  });

  it('makes a key created or replaced on A sign and verify on B within cache.ttl', async () => {
    const flow = new CodeFlow(rp);
    let refreshToken = (await tokensFor(rp)).refresh_token as string;
    // Generated here, before B's cache is warmed: generating on A could outlast the 1 s bound on a busy runner.
    const rsaKey = await nextRsaKey();
    // Warm B's key cache (B signs an ID token), so that what follows measures staleness, not a first read.
    const warm = await refresh(b, rp, refreshToken);
    expect(warm.status).toBe(200);
    refreshToken = warm.body.refresh_token as string;
    const kid = `rotated-${Date.now()}`;
    const created = await admin(a, 'PUT', `/admin/keys/${ID_TOKEN_SET}/${kid}`, await rsaKey(kid));
    expect(created.status).toBe(200);
    const changedAt = Date.now();

    // A signs with the new key at once (its own write invalidates its cache).
    const onA = await refresh(a, rp, refreshToken);
    expect(onA.status).toBe(200);
    refreshToken = onA.body.refresh_token as string;
    const idTokenByA = onA.body.id_token as string;
    expect(decodeProtectedHeader(idTokenByA).kid).toBe(kid);
    // B verifies it at once, even while its cached set is older than the key: an unknown kid makes it read the set again.
    expect(await startLogout(b, idTokenByA, flow)).toBeTruthy();

    // B publishes the key and signs with it within the bound.
    await within(CACHE_TTL_MS + MARGIN_MS, async () => (await jwksOf(b)).some((key) => key.kid === kid));
    await within(CACHE_TTL_MS + MARGIN_MS, async () => {
      const onB = await refresh(b, rp, refreshToken);
      expect(onB.status).toBe(200);
      refreshToken = onB.body.refresh_token as string;
      return decodeProtectedHeader(onB.body.id_token as string).kid === kid;
    });
    expect(Date.now() - changedAt).toBeLessThanOrEqual(CACHE_TTL_MS + MARGIN_MS);

    // The same kid replaced with new key material on A: after the bound B signs with the new material.
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const replacement = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
    const replacementPublic = await importJWK({ ...(await exportJWK(publicKey)), alg: 'RS256' }, 'RS256');
    const put = await admin(a, 'PUT', `/admin/keys/${ID_TOKEN_SET}/${kid}`, replacement);
    expect(put.status).toBe(200);
    const replacedAt = Date.now();
    const verifiesWithReplacement = async (idToken: string) => {
      try {
        await jwtVerify(idToken, replacementPublic);
        return true;
      } catch {
        return false;
      }
    };
    await within(CACHE_TTL_MS + MARGIN_MS, async () => {
      const onB = await refresh(b, rp, refreshToken);
      expect(onB.status).toBe(200);
      refreshToken = onB.body.refresh_token as string;
      return verifiesWithReplacement(onB.body.id_token as string);
    });
    expect(Date.now() - replacedAt).toBeLessThanOrEqual(CACHE_TTL_MS + MARGIN_MS + 500);
    // And what B signs verifies with what either node publishes.
    const last = await refresh(b, rp, refreshToken);
    for (const node of [a, b]) {
      const payload: JWTPayload = (await jwtVerify(last.body.id_token as string, createLocalJWKSet({ keys: await jwksOf(node) }))).payload;
      expect(payload.sub).toBe('alice');
    }
  });

  it('verifies on B a JWT access token A signed with a key B has not cached yet', async () => {
    const client = await createClient(a, { access_token_strategy: 'jwt', grant_types: ['client_credentials'] });
    const issue = async (node: NodeUrls) => {
      const answer = await token(node, client, { grant_type: 'client_credentials' });
      expect(answer.status).toBe(200);
      return answer.body.access_token as string;
    };
    const rsaKey = await nextRsaKey();
    // B has the access-token set cached (it signed and verified one).
    expect(await introspect(b, await issue(b))).toMatchObject({ active: true });
    const kid = `at-rotated-${Date.now()}`;
    expect((await admin(a, 'PUT', `/admin/keys/hydra.jwt.access-token/${kid}`, await rsaKey(kid))).status).toBe(200);
    const fresh = await issue(a);
    expect(decodeProtectedHeader(fresh).kid).toBe(kid);
    expect(await introspect(b, fresh)).toMatchObject({ active: true, client_id: client.id });
  });

  it('sees a client changed or deleted on A from B within cache.ttl, and keeps refusing afterwards', async () => {
    const client = await createClient(a, {});
    const authorizeOn = async (node: NodeUrls, redirectUri: string) => {
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: client.id,
        redirect_uri: redirectUri,
        scope: 'openid',
        state: 'abcdefgh',
      });
      const response = await fetch(`${node.publicUrl}/oauth2/auth?${query}`, { redirect: 'manual' });
      await response.body?.cancel();
      expect(response.status).toBeLessThan(500);
      return (response.headers.get('location') ?? '').startsWith(FLOW_ENV.URLS_LOGIN);
    };
    const credentials = async (node: NodeUrls, secret: string) => {
      const answer = await token(node, { id: client.id, secret }, { grant_type: 'client_credentials' });
      expect(answer.status).toBeLessThan(500);
      return answer.status === 200 ? 'ok' : String(answer.body.error);
    };
    // B has verified (and cached) the first secret and served the first redirect URI.
    expect(await credentials(b, client.secret)).toBe('ok');
    expect(await authorizeOn(b, REDIRECT_URI)).toBe(true);

    const newSecret = 'a-brand-new-client-secret-0123';
    const newRedirect = 'https://rp.example/moved';
    const patched = await admin(
      a,
      'PATCH',
      `/admin/clients/${client.id}`,
      [
        { op: 'replace', path: '/redirect_uris', value: [newRedirect] },
        { op: 'replace', path: '/client_secret', value: newSecret },
      ],
      'application/json-patch+json',
    );
    expect(patched.status).toBe(200);
    const seesChange = async (node: NodeUrls) =>
      (await credentials(node, client.secret)) === 'invalid_client' &&
      (await credentials(node, newSecret)) === 'ok' &&
      (await authorizeOn(node, newRedirect)) &&
      !(await authorizeOn(node, REDIRECT_URI));
    expect(await within(CACHE_TTL_MS + MARGIN_MS, () => seesChange(b))).toBeLessThanOrEqual(CACHE_TTL_MS + MARGIN_MS);
    await sleep(CACHE_TTL_MS + 200);
    expect(await seesChange(b)).toBe(true);
    expect(await seesChange(a)).toBe(true);

    const deleted = await admin(a, 'DELETE', `/admin/clients/${client.id}`);
    expect(deleted.status).toBe(204);
    const refused = async (node: NodeUrls) =>
      (await credentials(node, newSecret)) === 'invalid_client' && !(await authorizeOn(node, newRedirect));
    expect(await within(CACHE_TTL_MS + MARGIN_MS, () => refused(b))).toBeLessThanOrEqual(CACHE_TTL_MS + MARGIN_MS);
    await sleep(CACHE_TTL_MS + 200);
    expect(await refused(b)).toBe(true);
    expect((await admin(b, 'GET', `/admin/clients/${client.id}`)).status).toBe(404);
  });

  it('never answered a request with a server error', () => {
    for (const node of [a, b]) expect(node.stderr + node.stdout).not.toMatch(/"level":50|"statusCode":5\d\d/);
  });
});
