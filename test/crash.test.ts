/**
 * Crash safety: a node under token load, with authorization-code flows at every stage, is killed with
 * SIGKILL (no shutdown code runs) and restarted on the same store. Every token whose 200 answer the
 * client fully read must still be active, no grant may be half written, and every interrupted flow
 * either finishes or fails with an OAuth error, never a server error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_ENV } from './support/browser.js';
import { type CliNode, killAll, migrateUp, sleep, startNode } from './support/cli.js';
import { admin, type Client, CodeFlow, introspect, token } from './support/http-flow.js';
import { freePort } from './support/server.js';
import { openSql, STORES } from './support/stores.js';

/** Concurrent client_credentials loops. */
const LOOPS = 8;
/** Authorization-code flows running to completion in a loop while the node dies. */
const FLOW_LOOPS = 2;

/**
 * What a consistent store looks like (see src/oauth2/token-store.ts and the migrations): every token
 * belongs to a live client and consent; the rows of one grant agree on client and subject; a completed
 * consent has its code; a spent code has its tokens and every code-grant token a spent code (the code is
 * spent and the tokens written in one transaction); a client_credentials grant is exactly one row.
 * Each query lists what violates its rule.
 */
const INVARIANTS: Record<string, string> = {
  'token of a missing client':
    'select t.signature from oauth2_tokens t where not exists (select 1 from clients c where c.id = t.client_id)',
  'token of a missing consent':
    'select t.signature from oauth2_tokens t where t.consent_id is not null and not exists (select 1 from consent_sessions s where s.id = t.consent_id)',
  'grant whose rows disagree':
    'select request_id from oauth2_tokens group by request_id having count(distinct client_id) > 1 or count(distinct subject) > 1',
  'consent without its code':
    "select s.id from consent_sessions s where not exists (select 1 from oauth2_tokens t where t.consent_id = s.id and t.kind = 'authorization_code')",
  'spent code without tokens': `select c.request_id from oauth2_tokens c where c.kind = 'authorization_code' and c.used_at is not null
      and not exists (select 1 from oauth2_tokens t where t.request_id = c.request_id and t.kind = 'access_token')`,
  'code-grant token without a spent code': `select t.signature from oauth2_tokens t where t.kind <> 'authorization_code' and t.consent_id is not null
      and not exists (select 1 from oauth2_tokens c where c.request_id = t.request_id and c.kind = 'authorization_code' and c.used_at is not null)`,
  'client_credentials grant of several rows': `select request_id from oauth2_tokens where consent_id is null
      group by request_id having count(*) <> 1`,
};

describe.each(STORES)('a node killed with SIGKILL under load ($name)', (store) => {
  let node: CliNode;
  let ports: { public: number; admin: number };
  let env: Record<string, string>;
  let dsn: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const data = await store.create();
    ({ dsn, drop } = data);
    await migrateUp(dsn);
    ports = { public: await freePort(), admin: await freePort() };
    env = {
      DSN: dsn,
      SECRETS_SYSTEM: 'crash-test-secret-0123456789',
      URLS_SELF_ISSUER: `http://127.0.0.1:${ports.public}/`,
      LOG_LEVEL: 'warn',
      ...FLOW_ENV,
    };
    node = await startNode({ env, ports });
  });

  afterAll(async () => {
    await node?.stop();
    killAll();
    await drop?.();
  });

  it('keeps every acknowledged token, writes no half grant, and lets interrupted flows finish or fail cleanly', async () => {
    const createClient = async (body: Record<string, unknown>): Promise<Client> => {
      const created = await admin(node, 'POST', '/admin/clients', body);
      expect(created.status).toBe(201);
      return { id: created.body.client_id as string, secret: created.body.client_secret as string };
    };
    const machine = await createClient({ grant_types: ['client_credentials'], scope: 'read write' });
    const rp = await createClient({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://rp.example/cb'],
      scope: 'openid offline_access',
    });

    // Flows parked at every stage between the authorization request and the token exchange.
    const parked: CodeFlow[] = [];
    for (let steps = 1; steps <= 5; steps++) {
      for (let copy = 0; copy < 2; copy++) {
        const flow = new CodeFlow(rp);
        for (let i = 0; i < steps; i++) await flow.step(node);
        parked.push(flow);
      }
    }
    expect(parked.map((flow) => flow.stage)).toEqual(
      ['login', 'login-verifier', 'consent', 'consent-verifier', 'code'].flatMap((stage) => [stage, stage]),
    );

    // The load: client_credentials in parallel loops, and whole flows, until the node dies.
    let dead = false;
    const acknowledged: string[] = [];
    const serverErrors: string[] = [];
    const load = async () => {
      while (!dead) {
        try {
          const answer = await token(node, machine, { grant_type: 'client_credentials', scope: 'read' });
          // `token` has read the whole body: only now is the token acknowledged.
          if (answer.status === 200) acknowledged.push(answer.body.access_token as string);
          else serverErrors.push(`${answer.status} ${JSON.stringify(answer.body)}`);
        } catch {
          // Connection refused or cut: the node is gone.
          return;
        }
      }
    };
    const interrupted: CodeFlow[] = [];
    const interruptedAt: string[] = [];
    const completed: CodeFlow[] = [];
    const flowLoop = async () => {
      while (!dead) {
        const flow = new CodeFlow(rp);
        try {
          await flow.finish(node);
          completed.push(flow);
        } catch {
          interrupted.push(flow);
          interruptedAt.push(flow.stage);
          return;
        }
      }
    };
    const started = Date.now();
    const running = [...Array.from({ length: LOOPS }, load), ...Array.from({ length: FLOW_LOOPS }, flowLoop)];

    // Kill mid-load: once a good number of tokens were acknowledged (or after a while on a slow runner).
    while (acknowledged.length < 150 && Date.now() - started < 4000) await sleep(20);
    await node.kill();
    dead = true;
    await Promise.all(running);
    expect(node.exited).toBe(true);
    expect(serverErrors).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);

    node = await startNode({ env, ports });

    // Every acknowledged token survived, on the restarted node.
    const inactive: string[] = [];
    const queue = [...acknowledged];
    await Promise.all(
      Array.from({ length: LOOPS }, async () => {
        for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
          if ((await introspect(node, next)).active !== true) inactive.push(next);
        }
      }),
    );
    expect(inactive).toEqual([]);

    // Parked and interrupted flows resume where they stopped (a step cut off is sent again, as a person would
    // reload); each ends with tokens or an OAuth error.
    for (const flow of [...parked, ...interrupted]) {
      await flow.finish(node);
      expect(flow.statuses.filter((status) => status >= 500)).toEqual([]);
      expect(flow.stage).toBe('done');
      if (flow.tokens === undefined) expect(flow.error, `flow ended without tokens: ${flow.error}`).toMatch(/^[a-z_]+$/);
    }
    // Parked flows hold their whole state in their challenges and verifiers: they all finish.
    expect(parked.filter((flow) => flow.tokens === undefined).map((flow) => flow.error)).toEqual([]);
    for (const flow of [...parked, ...completed]) {
      if (flow.tokens) expect(await introspect(node, flow.tokens.access_token as string)).toMatchObject({ active: true, sub: 'alice' });
    }

    // No half-written grant in the store.
    const sql = await openSql(dsn);
    try {
      for (const [rule, query] of Object.entries(INVARIANTS)) expect(await sql.all(query), rule).toEqual([]);
      const [{ count }] = (await sql.all("select count(*) as count from oauth2_tokens where client_id = $1 and kind = 'access_token'", [
        machine.id,
      ])) as [{ count: unknown }];
      expect(Number(count)).toBeGreaterThanOrEqual(acknowledged.length);
      if (store.name === 'sqlite') {
        expect(await sql.all('pragma integrity_check')).toEqual([{ integrity_check: 'ok' }]);
        expect(await sql.all('pragma foreign_key_check')).toEqual([]);
      }
    } finally {
      await sql.close();
    }
    console.info(
      `${store.name}: killed after ${acknowledged.length} acknowledged tokens; ${completed.length} flows completed, ${interrupted.length} interrupted at ${interruptedAt.join(', ')}`,
    );
  }, 90_000);
});
