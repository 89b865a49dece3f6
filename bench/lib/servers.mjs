// Starting and stopping the servers under test, each in its own process.
import { execFile, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
export const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const PEER = join(ROOT, 'bench/peer.mjs');
const FLOOR = join(ROOT, 'bench/floor.mjs');

export const CLIENT_SECRET = 'bench-secret-0123456789abcdef';
/** The clients both servers know, with the same ids and secret: opaque access tokens, and JWT ones. */
export const CLIENTS = { opaque: 'bench', jwt: 'bench-jwt' };
export const SCOPE = 'openid offline_access read write';
export const REDIRECT_URI = 'http://127.0.0.1:9/callback';
/** Where Portcullis sends the browser to log in and consent: never loaded, the driver plays these apps. */
export const LOGIN_URL = 'http://127.0.0.1:9/login';
export const CONSENT_URL = 'http://127.0.0.1:9/consent';
export const PEER_RESOURCE = 'urn:bench:api';

export const POSTGRES_URL = process.env.PORTCULLIS_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A port that was free a moment ago, on the loopback interface. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Memory of a process from /proc: current and peak resident set, in MB. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return { rssMb: Number.NaN, peakRssMb: Number.NaN };
  }
}

/** A process and its children (`serve --workers`: the primary and its workers), from /proc. */
export function processTree(pid) {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...children.flatMap(processTree)];
  } catch {
    return [pid];
  }
}

/** RSS of the whole tree (summed) and of each process in it, in MB. */
function treeMemoryOf(pid) {
  const each = processTree(pid).map((member) => memoryOf(member));
  const sum = (field) => each.reduce((total, usage) => total + usage[field], 0);
  return { rssMb: sum('rssMb'), peakRssMb: sum('peakRssMb'), perProcessRssMb: each.map((usage) => usage.rssMb) };
}

const TICKS_PER_SECOND = 100;

/** CPU time a process has used so far (user + system, every thread), in milliseconds, from /proc. */
export function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

async function waitFor(url, child, what) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not become ready at ${url}`);
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A fresh data source: a temporary SQLite file, or a new PostgreSQL schema dropped afterwards. */
export async function createStore(kind) {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
    return { kind, dsn: `sqlite://${join(dir, 'bench.sqlite')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('search_path', schema);
  return {
    kind,
    dsn: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Portcullis as production runs it: migrated with `migrate sql up`, then `serve all` (no --dev),
 * logging at warn, on loopback ports. Extra node flags (e.g. `--cpu-prof`) come from `nodeArgs`;
 * `workers` above 1 runs `serve all --workers N` (memory and CPU then count the primary and its workers).
 */
export async function startPortcullis(store, { nodeArgs = [], env = {}, workers = 1 } = {}) {
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${publicPort}/`;
  const serverEnv = {
    ...process.env,
    NODE_ENV: 'production',
    DSN: store.dsn,
    SECRETS_SYSTEM: `bench-system-secret-${randomBytes(12).toString('hex')}`,
    URLS_SELF_ISSUER: issuer,
    URLS_LOGIN: LOGIN_URL,
    URLS_CONSENT: CONSENT_URL,
    SERVE_PUBLIC_PORT: String(publicPort),
    SERVE_ADMIN_PORT: String(adminPort),
    SERVE_PUBLIC_HOST: '127.0.0.1',
    SERVE_ADMIN_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env,
  };
  await run(process.execPath, [CLI, 'migrate', 'sql', 'up', store.dsn], { env: serverEnv, cwd: ROOT });
  const workerArgs = workers > 1 ? ['--workers', String(workers)] : [];
  const child = spawn(process.execPath, [...nodeArgs, process.env.BENCH_WRAPPER ?? CLI, 'serve', 'all', ...workerArgs], {
    env: serverEnv,
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(`${publicUrl}/health/ready`, child, 'Portcullis');
    for (const [kind, id] of Object.entries(CLIENTS)) {
      const response = await fetch(`${adminUrl}/admin/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: id,
          client_secret: CLIENT_SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: [REDIRECT_URI],
          scope: SCOPE,
          access_token_strategy: kind === 'jwt' ? 'jwt' : 'opaque',
        }),
      });
      if (response.status !== 201) throw new Error(`creating client ${id}: ${response.status} ${await response.text()}`);
    }
  } catch (error) {
    await stop(child);
    throw error;
  }
  return {
    name: 'portcullis',
    store: store.kind,
    pid: child.pid,
    publicUrl,
    adminUrl,
    issuer,
    endpoints: {
      token: `${publicUrl}/oauth2/token`,
      introspect: `${adminUrl}/admin/oauth2/introspect`,
      discovery: `${publicUrl}/.well-known/openid-configuration`,
      jwks: `${publicUrl}/.well-known/jwks.json`,
      authorize: `${publicUrl}/oauth2/auth`,
    },
    /** How a person signs in and consents (bench/lib/flows.mjs): login and consent apps on the admin API, as with Hydra. */
    interactions: 'admin-api',
    authorizeParams: {},
    /** Extra token-request parameters that select JWT access tokens (here: the client's own strategy). */
    jwtParams: '',
    introspectionAuth: undefined,
    memory: () => treeMemoryOf(child.pid),
    cpuMs: () => processTree(child.pid).reduce((total, pid) => total + cpuMsOf(pid), 0),
    stop: () => stop(child),
  };
}

/** oidc-provider (bench/peer.mjs), with the same clients and secret. */
export async function startPeer() {
  const port = await freePort();
  const child = fork(PEER, [], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PEER_PORT: String(port),
      PEER_CLIENTS: JSON.stringify(Object.values(CLIENTS).map((client_id) => ({ client_id, client_secret: CLIENT_SECRET }))),
      PEER_RESOURCE,
    },
    // oidc-provider prints development notices on stderr: kept out of the table's way.
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/.well-known/openid-configuration`, child, 'oidc-provider');
  } catch (error) {
    process.stderr.write(stderr);
    await stop(child);
    throw error;
  }
  let nextId = 0;
  return {
    name: 'oidc-provider',
    store: 'memory',
    pid: child.pid,
    publicUrl: url,
    issuer: url,
    endpoints: {
      token: `${url}/token`,
      introspect: `${url}/token/introspection`,
      discovery: `${url}/.well-known/openid-configuration`,
      jwks: `${url}/jwks`,
      authorize: `${url}/auth`,
    },
    /** How a person signs in and consents (bench/lib/flows.mjs): the provider's development forms. */
    interactions: 'forms',
    /**
     * OpenID Connect Core 11: offline_access is granted only with prompt=consent, and oidc-provider
     * drops the scope (so issues no refresh token) without it; Portcullis, as Hydra, does not ask for it.
     */
    authorizeParams: { prompt: 'consent' },
    jwtParams: `&resource=${encodeURIComponent(PEER_RESOURCE)}`,
    /** oidc-provider authenticates the introspecting client; Portcullis's admin listener does not. */
    introspectionAuth: basicAuth(CLIENTS.opaque),
    /** Refresh tokens as an authorization code exchange would leave them, minted in the peer's process. */
    mintRefreshTokens: (count) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const onMessage = (message) => {
          if (message?.type !== 'refresh-tokens' || message.id !== id) return;
          child.off('message', onMessage);
          if (message.error) reject(new Error(message.error));
          else resolve(message.tokens);
        };
        child.on('message', onMessage);
        child.send({ type: 'mint-refresh-tokens', id, clientId: CLIENTS.opaque, count });
      }),
    memory: () => memoryOf(child.pid),
    cpuMs: () => cpuMsOf(child.pid),
    stop: () => stop(child),
  };
}

/** A bare node:http server (bench/floor.mjs): what any Node.js server can reach on this machine. */
export async function startFloor() {
  const child = fork(FLOOR, [], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`the floor server exited with code ${code}`)));
  });
  return { name: 'node:http', publicUrl: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stop(child) };
}

export function basicAuth(clientId, secret = CLIENT_SECRET) {
  const encode = (value) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}
