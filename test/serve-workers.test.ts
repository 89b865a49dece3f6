/**
 * `portcullis serve all --workers 2` as an operator runs it (the built CLI, a real primary and two
 * node:cluster workers sharing the listeners): flows and tokens served by both workers, Prometheus metrics
 * added up across them, single-use refresh tokens holding across processes, a killed worker restarted,
 * SIGTERM stopping everything. On SQLite (migrated by the primary in development mode) and PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_ENV } from './support/browser.js';
import { type CliNode, killAll, loopbackServeEnv, migrateUp, runCli, sleep, startNode, tempDir } from './support/cli.js';
import { admin, type Client, CodeFlow, token } from './support/http-flow.js';
import { freePort } from './support/server.js';
import { STORES } from './support/stores.js';

const WORKER_STORES = STORES.filter((store) => store.name !== 'mysql');

interface LogLine {
  msg?: string;
  worker?: number;
  path?: string;
  status?: number;
  [key: string]: unknown;
}

/** The JSON log lines the node wrote so far (primary and workers share its stderr). */
function logLines(node: CliNode): LogLine[] {
  return node.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The pids of the primary's child processes (its workers), from the operating system. */
function workerPids(node: CliNode): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(node.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(timeoutMs: number, check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs}ms: ${what}`);
    await sleep(100);
  }
}

/** A counter's value in a Prometheus text exposition (0 when absent). */
function counter(exposition: string, series: string): number {
  const line = exposition.split('\n').find((each) => each.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe.each(WORKER_STORES)('serve all --workers 2 on $name', (store) => {
  let node: CliNode;
  let drop: () => Promise<void>;
  let client: Client;

  beforeAll(async () => {
    const data = await store.create();
    drop = data.drop;
    const ports = { public: await freePort(), admin: await freePort() };
    // SQLite in development mode migrates itself (in the primary, once); PostgreSQL is migrated first, as in production.
    if (store.name !== 'sqlite') await migrateUp(data.dsn);
    node = await startNode({
      env: {
        DSN: data.dsn,
        SECRETS_SYSTEM: 'workers-secret-0123456789',
        URLS_SELF_ISSUER: `http://127.0.0.1:${ports.public}/`,
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        ...FLOW_ENV,
      },
      args: ['--workers', '2', ...(store.name === 'sqlite' ? ['--dev'] : [])],
      ports,
      cwd: tempDir('portcullis-workers-'),
    });
    await until(
      15_000,
      () => logLines(node).some((line) => line.msg === 'portcullis is serving' && line.workers === 2),
      'both workers ready',
    );
    const created = await admin(node, 'POST', '/admin/clients', {
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: ['https://rp.example/cb'],
      scope: 'openid offline_access',
    });
    expect(created.status).toBe(201);
    client = { id: created.body.client_id as string, secret: created.body.client_secret as string };
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    killAll();
    await drop?.();
  });

  it('migrates once, in the primary, and runs two workers', () => {
    const lines = logLines(node);
    const migrations = lines.filter((line) => line.msg === 'applied database migrations');
    expect(migrations.length).toBe(store.name === 'sqlite' ? 1 : 0);
    for (const line of migrations) expect(line.worker).toBeUndefined();
    expect(workerPids(node)).toHaveLength(2);
  });

  it('serves token requests from both workers and adds their metrics up', async () => {
    const before = await (await fetch(`${node.adminUrl}/admin/metrics/prometheus`)).text();
    const series = 'portcullis_tokens_issued_total{grant_type="client_credentials"}';
    const REQUESTS = 24;
    // Concurrent requests open several connections, which the primary hands to the workers in turn.
    const answers = await Promise.all(Array.from({ length: REQUESTS }, () => token(node, client, { grant_type: 'client_credentials' })));
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));

    // Each worker writes its request log asynchronously: wait for every line before telling who served.
    const servedLines = () => logLines(node).filter((line) => line.path === '/oauth2/token' && line.status === 200);
    await until(10_000, () => servedLines().length >= REQUESTS, 'a request log line per answer');
    const served = servedLines();
    const byWorker = new Set(served.map((line) => line.worker));
    expect([...byWorker].sort()).toEqual([1, 2]);
    // Every scrape, whichever worker answers it, counts the requests of both.
    const route = '{listener="public",method="POST",route="/oauth2/token"}';
    const histogram = (exposition: string, part: string) =>
      counter(
        exposition,
        `portcullis_http_request_duration_seconds_${part}${part === 'bucket' ? route.replace('}', ',le="+Inf"}') : route}`,
      );
    for (let scrape = 0; scrape < 4; scrape++) {
      const exposition = await (await fetch(`${node.adminUrl}/admin/metrics/prometheus`)).text();
      expect(counter(exposition, series) - counter(before, series)).toBe(REQUESTS);
      // Histograms add up too: the count, the +Inf bucket and a sum that grew.
      expect(histogram(exposition, 'count') - histogram(before, 'count')).toBe(REQUESTS);
      expect(histogram(exposition, 'bucket') - histogram(before, 'bucket')).toBe(REQUESTS);
      expect(histogram(exposition, 'sum')).toBeGreaterThan(histogram(before, 'sum'));
    }
  });

  it('runs a flow and lets exactly one of two racing refreshes win across the workers', async () => {
    const flow = new CodeFlow(client);
    while (await flow.step(node)) {}
    expect(flow.error).toBeUndefined();
    expect(flow.statuses.every((status) => status < 500)).toBe(true);
    let current = (flow.tokens as Record<string, string>).refresh_token as string;
    for (let round = 0; round < 6; round++) {
      const answers = await Promise.all([0, 1].map(() => token(node, client, { grant_type: 'refresh_token', refresh_token: current })));
      const winners = answers.filter((answer) => answer.status === 200);
      expect(winners, JSON.stringify(answers)).toHaveLength(1);
      expect(answers.find((answer) => answer.status !== 200)?.status).toBe(400);
      current = (winners[0] as (typeof answers)[0]).body.refresh_token as string;
      if (answers.some((answer) => answer.body.error === 'invalid_grant')) {
        // The loser presented a used token: reuse detection revoked the family, the new token too.
        const after = await token(node, client, { grant_type: 'refresh_token', refresh_token: current });
        expect(after.status).toBe(400);
        break;
      }
    }
    expect(logLines(node).some((line) => JSON.stringify(line).includes('SQLITE_BUSY'))).toBe(false);
  });

  it('restarts a killed worker and keeps serving', async () => {
    const [victim, survivor] = workerPids(node) as [number, number];
    process.kill(victim, 'SIGKILL');
    await until(10_000, () => logLines(node).some((line) => line.msg === 'worker died: restarting'), 'the death logged');
    await until(15_000, () => workerPids(node).length === 2 && !workerPids(node).includes(victim), 'a new worker');
    expect(workerPids(node)).toContain(survivor);
    await until(
      15_000,
      () => logLines(node).filter((line) => line.msg === 'admin listener ready').length === 3,
      'the new worker listening',
    );
    const answers = await Promise.all(Array.from({ length: 8 }, () => token(node, client, { grant_type: 'client_credentials' })));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
  }, 40_000);

  it('stops the primary and every worker on SIGTERM', async () => {
    const pids = workerPids(node);
    expect(pids).toHaveLength(2);
    await node.stop();
    expect(await node.exit).toEqual({ code: 0, signal: null });
    const lines = logLines(node);
    expect(lines.filter((line) => line.msg === 'stopped').map((line) => line.worker)).toHaveLength(2);
    expect(lines.some((line) => line.msg === 'all workers stopped')).toBe(true);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 30_000);
});

describe.concurrent('serve --workers refusals', () => {
  const env = async () => ({
    ...loopbackServeEnv({ public: await freePort(), admin: await freePort() }),
    SECRETS_SYSTEM: 'workers-secret-0123456789',
  });

  it('refuses a count that is not a positive number or auto', async () => {
    for (const count of ['0', '-1', 'many', '1.5']) {
      const result = await runCli(['serve', 'all', '--workers', count], await env(), 15_000, tempDir('portcullis-workers-'));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('--workers');
    }
  });

  it('refuses several workers on the memory database, which each process would have to itself', async () => {
    const result = await runCli(
      ['serve', 'all', '--workers', '2'],
      { ...(await env()), DSN: 'memory' },
      15_000,
      tempDir('portcullis-workers-'),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('memory database is per process');
  });

  it('stops with exit code 1 when the workers cannot listen, instead of restarting them forever', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const { dsn } = await STORES[0]!.create();
    try {
      const result = await runCli(
        ['serve', 'all', '--workers', '2', '--dev'],
        { ...(await env()), DSN: dsn, SERVE_PUBLIC_PORT: String(port), LOG_FORMAT: 'json' },
        30_000,
        tempDir('portcullis-workers-'),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('worker failed to start: stopping');
    } finally {
      taken.close();
    }
  }, 40_000);
});
