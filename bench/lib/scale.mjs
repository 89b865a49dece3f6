// The benchmark against a store that already holds many tokens (`node bench/run.mjs --store-size N`;
// docs/performance.md, "As the store grows"): seeding it before Portcullis starts, and timing the
// janitor on it afterwards.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { flowDriver } from './flows.mjs';
import { createStore, ROOT, startPortcullis } from './servers.mjs';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist/cli/main.js');
const SEED = join(ROOT, 'bench/seed.mjs');
/** `portcullis janitor --batch-size`'s default. */
const JANITOR_BATCH_SIZE = 100;

/**
 * Migrates the store and fills it with `tokens` tokens (bench/seed.mjs), sealed with a new system
 * secret; returns the secret (the server must be started with it) and what the seeding reported.
 */
export async function seedStore(store, tokens, log) {
  const secret = `bench-system-secret-${randomBytes(12).toString('hex')}`;
  const env = { ...process.env, SECRETS_SYSTEM: secret, LOG_LEVEL: 'warn' };
  await run(process.execPath, [CLI, 'migrate', 'sql', 'up', store.dsn], { env, cwd: ROOT });
  log(`seeding ${store.kind} with ${tokens} tokens (bench/seed.mjs)`);
  const { stdout } = await run(process.execPath, [SEED, '--dsn', store.dsn, '--tokens', String(tokens)], {
    env,
    cwd: ROOT,
    maxBuffer: 1 << 20,
  });
  const seeded = JSON.parse(stdout.trim().split('\n').pop());
  log(`seeded ${seeded.tokens} tokens and ${seeded.consents} consents in ${seeded.seconds.toFixed(0)} s (${seeded.tokensPerSecond}/s)`);
  return { secret, seeded };
}

/**
 * The janitor (`portcullis janitor --tokens`, with its default batch size) deleting `rows` expired
 * tokens, run here with the server stopped: wall time, and this process's CPU (on PostgreSQL most of
 * the work is the database's, so wall time is the figure). Times per 100,000 rows deleted.
 */
export async function timeJanitor(store, rows = 100_000) {
  const dist = (path) => import(join(ROOT, 'dist', path));
  const [{ openDatabase }, { SqlPersister }, { runJanitor }] = await Promise.all([
    dist('persistence/database.js'),
    dist('persistence/persister.js'),
    dist('janitor/janitor.js'),
  ]);
  const database = openDatabase(store.dsn);
  try {
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const result = await runJanitor(new SqlPersister(database.db), {
      tokens: true,
      requests: false,
      grants: false,
      limit: rows,
      batchSize: JANITOR_BATCH_SIZE,
      keepIfYounger: 0,
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { user, system } = process.cpuUsage(cpu);
    if (result.tokens === 0) return { deleted: 0, statements: result.statements };
    const per = 100_000 / result.tokens;
    return {
      deleted: result.tokens,
      statements: result.statements,
      wallMsPer100k: Math.round(wallMs * per),
      cpuMsPer100k: Math.round(((user + system) / 1000) * per),
    };
  } finally {
    await database.close();
  }
}

/**
 * Portcullis on a fresh, empty store of the same kind: measured in the same run as the seeded one,
 * alternating with it as the peer would, so both see the same background noise.
 */
export async function startEmptyTwin(kind, { workers, needsDriver }) {
  const store = await createStore(kind);
  const server = await startPortcullis(store, { workers });
  const driver = needsDriver ? flowDriver(server, { connections: 32 }) : undefined;
  return {
    server: { ...server, name: 'portcullis (empty store)', flowDriver: driver },
    stop: async () => {
      await driver?.close();
      await server.stop();
      await store.drop();
    },
  };
}

/** CPU per request on the seeded store against the empty one, and how much it grew; the janitor's times. */
export function printScaleTable(report) {
  const lines = [`\nCPU µs per request with ${report.scale.storeSize} tokens stored, against an empty store (same run):`];
  for (const row of report.results) {
    if (!row.emptyStore) continue;
    const growth = row.ours.cpuMs / row.emptyStore.cpuMs - 1;
    lines.push(
      `  ${row.id.padEnd(6)} empty ${(row.emptyStore.cpuMs * 1000).toFixed(0).padStart(5)}  seeded ${(row.ours.cpuMs * 1000).toFixed(0).padStart(5)}  ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
    );
  }
  for (const [kind, janitor] of Object.entries(report.scale.janitor)) {
    lines.push(
      `  janitor (${kind}): ${janitor.wallMsPer100k} ms wall, ${janitor.cpuMsPer100k} ms CPU here per 100,000 tokens (${janitor.deleted} deleted)`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
