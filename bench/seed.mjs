// Fills a migrated Portcullis database with tokens, to measure what a large store costs (issue 17,
// item 5; docs/performance.md, "As the store grows"). Not a test: a tool the benchmark runs
// (`node bench/run.mjs --store-size N`) and that can be run on its own:
//
//   node dist/cli/main.js migrate sql up "$DSN"
//   SECRETS_SYSTEM=… node bench/seed.mjs --dsn "$DSN" --tokens 1000000 [--expired 0.2] [--clients 16]
//
// Every row is made by the server's own code from dist/ (run `npm run build` first): the token
// service mints each token (a real opaque token, its HMAC and the hash stored as its key), the
// token store turns it into a row (sealing its session with `secrets.system`, as `serve` does by
// default) and inserts it, the session store writes the consents the tokens' foreign keys need,
// and the client service creates the clients. Use the server's SECRETS_SYSTEM: sealed sessions only
// open with it. The grants follow each other as the server would issue them, oldest first:
//   - three client_credentials grants (one access token each, the client as subject), then
//   - one authorization code flow for `openid offline_access`: its consent, the code (used, as the
//     exchange leaves it), and the access and refresh tokens it was exchanged for;
// so a sixth of the rows are codes and a sixth of the rows have a consent. The oldest `--expired`
// share of the grants was issued longer ago than the refresh tokens' lifespan (every token of it
// has expired); the rest in the last half hour (none has). The janitor can delete the expired rows
// and the used codes. Rows go in as multi-row INSERTs (`--rows-per-insert`), many per transaction
// (`--rows-per-transaction`). Minting and sealing cost more than the INSERTs, so `--processes`
// processes (one per core by default) each write a contiguous part of the sequence; on SQLite
// their transactions take turns at the write lock while the others mint.
//
// Prints one JSON line on stdout: what was written and how long it took.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    dsn: { type: 'string', default: process.env.DSN },
    tokens: { type: 'string' },
    expired: { type: 'string', default: '0.2' },
    clients: { type: 'string', default: '16' },
    'rows-per-insert': { type: 'string', default: '1000' },
    'rows-per-transaction': { type: 'string', default: '10000' },
    processes: { type: 'string', default: String(availableParallelism()) },
    /** Internal: this process writes rows [from, to) of the sequence (set by the parent for each child). */
    part: { type: 'string' },
  },
});

const TOTAL = Number(flags.tokens);
const EXPIRED_SHARE = Number(flags.expired);
const CLIENT_COUNT = Number(flags.clients);
const ROWS_PER_INSERT = Number(flags['rows-per-insert']);
const ROWS_PER_TRANSACTION = Number(flags['rows-per-transaction']);
const PROCESSES = Math.max(1, Math.min(Number(flags.processes), Math.ceil(TOTAL / ROWS_PER_TRANSACTION)));
if (!flags.dsn) throw new Error('seed: --dsn (or DSN) is required');
if (!process.env.SECRETS_SYSTEM)
  throw new Error('seed: SECRETS_SYSTEM is required (the server’s, so that it can open the sealed sessions)');
if (!Number.isSafeInteger(TOTAL) || TOTAL < 1) throw new Error('seed: --tokens must be a positive integer');
if (!(EXPIRED_SHARE >= 0 && EXPIRED_SHARE <= 1)) throw new Error('seed: --expired must be between 0 and 1');

const dist = (path) => import(new URL(`../dist/${path}`, import.meta.url).href);
const [
  { loadConfig },
  { createLogger },
  { createRegistry },
  { decisionSession },
  { lifespan },
  { flowIdOf, newSessionIdOf },
  { publicClient },
] = await Promise.all([
  dist('config/load.js'),
  dist('observability/logger.js'),
  dist('registry.js'),
  dist('oauth2/issue.js'),
  dist('oauth2/lifespans.js'),
  dist('flow/state.js'),
  dist('flow/common.js'),
]);

const config = loadConfig({ env: { LOG_LEVEL: 'warn', ...process.env, DSN: flags.dsn } });
const registry = await createRegistry(config, createLogger(config.log));
const { dialect } = registry.database;

const MINUTE = 60_000;
const SCOPE_CC = ['read', 'write'];
const SCOPE_FLOW = ['openid', 'offline_access', 'read'];
const REDIRECT_URI = 'https://app.example.com/callback';

/** The clients the tokens belong to: created (with a hashed secret) unless a previous seeding did. */
async function seedClients(create) {
  const clients = [];
  for (let i = 0; i < CLIENT_COUNT; i++) {
    const id = `seed-client-${i}`;
    if (create && !(await registry.clients.find(id))) {
      await registry.clients.create({
        client_id: id,
        client_name: `Seeded client ${i}`,
        client_secret: randomBytes(24).toString('base64url'),
        grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        scope: 'openid offline_access read write',
        token_endpoint_auth_method: 'client_secret_basic',
      });
    }
    clients.push((await registry.clients.find(id)).client);
  }
  return clients;
}

/** One client_credentials grant, as `oauth2/grants/client-credentials.ts` issues it. */
async function clientCredentialsRows(client, at) {
  const grant = {
    requestId: registry.random.timeOrderedUuid(at),
    client,
    subject: client.client_id,
    scope: SCOPE_CC,
    audience: [],
    session: { grantType: 'client_credentials', ext: {} },
    consentId: null,
    requestedAt: at,
  };
  const access = await registry.tokens.mintAccessToken(grant, lifespan(config, client, 'client_credentials', 'access_token'), at);
  return [access.row];
}

/**
 * One authorization code flow and its exchange: the consent the flow records (`flow/consent.ts`),
 * the code (`mintAuthorizationResponse`), spent, and the exchange's access and refresh tokens
 * (`oauth2/grants/authorization-code.ts`).
 */
async function codeFlowRows(client, at, serial) {
  const csrf = randomBytes(16).toString('base64url');
  const consentId = flowIdOf({ csrf });
  const sid = newSessionIdOf({ csrf });
  const subject = `seed-user-${serial}`;
  const seconds = Math.floor(at / 1000);
  const idTokenClaims = { email: `${subject}@example.com` };
  const accessTokenClaims = { tier: 'seeded' };
  const consent = {
    id: consentId,
    clientId: client.client_id,
    subject,
    loginSessionId: sid,
    grantScope: SCOPE_FLOW,
    grantAudience: [],
    remember: false,
    rememberFor: 0,
    handledAt: at,
    document: {
      consent_request_id: consentId,
      grant_scope: SCOPE_FLOW,
      grant_access_token_audience: [],
      session: { access_token: accessTokenClaims, id_token: idTokenClaims },
      remember: false,
      remember_for: 0,
      handled_at: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      context: {},
      consent_request: {
        challenge: randomBytes(180).toString('base64url'),
        consent_request_id: consentId,
        requested_scope: SCOPE_FLOW,
        requested_access_token_audience: [],
        skip: false,
        subject,
        oidc_context: {},
        client: publicClient(client),
        request_url: `${config.urls.self.public}oauth2/auth?client_id=${client.client_id}&response_type=code&scope=openid+offline_access+read&state=${csrf}`,
        login_challenge: consentId,
        login_session_id: sid,
        acr: '0',
        amr: [],
        context: {},
      },
    },
  };
  const session = {
    ...decisionSession('authorization_code', {
      accessTokenClaims,
      idTokenClaims,
      subjectForClient: undefined,
      authTime: seconds,
      requestedAt: seconds,
      acr: '0',
      amr: [],
      sid,
    }),
    nonce: randomBytes(12).toString('base64url'),
  };
  const grant = {
    requestId: registry.random.timeOrderedUuid(at),
    client,
    subject,
    scope: SCOPE_FLOW,
    audience: [],
    session,
    consentId,
    requestedAt: at,
  };
  const code = registry.tokens.mintAuthorizationCode(
    { ...grant, session: { ...session, redirectUri: REDIRECT_URI, codeChallenge: randomBytes(32).toString('base64url') } },
    config.ttl.auth_code,
    at,
  );
  // As the exchange leaves it (`markUsed`): spent a second after it was issued.
  const spent = { ...code.row, active: false, usedAt: at + 1000, usedCount: 1 };
  const exchanged = { ...grant, session: { ...session, grantType: 'authorization_code' } };
  const access = await registry.tokens.mintAccessToken(
    exchanged,
    lifespan(config, client, 'authorization_code', 'access_token'),
    at + 1000,
  );
  const refresh = registry.tokens.mintRefreshToken(exchanged, lifespan(config, client, 'authorization_code', 'refresh_token'), at + 1000);
  return { consent, rows: [spent, access.row, refresh.row] };
}

/**
 * Grants in issuing order for rows [from, to) of the whole sequence of `TOTAL`: the expired share
 * first, spread over 30 days, then the last half hour.
 */
async function* batches(clients, from, to) {
  const now = Date.now();
  const refreshLifespan = config.ttl.refresh_token > 0 ? config.ttl.refresh_token : 720 * 60 * MINUTE;
  const expiredRows = Math.round(TOTAL * EXPIRED_SHARE);
  const expiredStart = now - refreshLifespan - 30 * 24 * 60 * MINUTE - 2 * MINUTE;
  const expiredEnd = now - refreshLifespan - 2 * MINUTE;
  const liveStart = now - 30 * MINUTE;
  let rows = [];
  let consents = [];
  let position = from;
  // Six rows per four grants: the part starts at the grant its first row belongs to.
  let serial = Math.floor((from / 6) * 4);
  while (position < to) {
    const expired = position < expiredRows;
    const share = expired ? position / Math.max(1, expiredRows) : (position - expiredRows) / Math.max(1, TOTAL - expiredRows);
    const at = Math.floor(expired ? expiredStart + share * (expiredEnd - expiredStart) : liveStart + share * 30 * MINUTE);
    const client = clients[serial % clients.length];
    const grant = serial % 4 === 3 ? await codeFlowRows(client, at, serial) : { rows: await clientCredentialsRows(client, at) };
    if (grant.consent) consents.push(grant.consent);
    const kept = grant.rows.slice(0, to - position);
    rows.push(...kept);
    position += kept.length;
    serial++;
    if (rows.length >= ROWS_PER_TRANSACTION || position >= to) {
      yield { rows, consents };
      rows = [];
      consents = [];
    }
  }
}

/** One transaction: the consents first (the tokens' foreign keys), then the tokens, `ROWS_PER_INSERT` a statement. */
function write({ rows, consents }) {
  return registry.persister.transaction(async ({ sessions, tokens }) => {
    for (const consent of consents) await sessions.insertConsent(consent);
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await tokens.insert(rows.slice(i, i + ROWS_PER_INSERT));
  });
}

/** A child's work: its part of the sequence, one transaction at a time; what it wrote. */
async function writePart(from, to) {
  const clients = await seedClients(false);
  const started = Date.now();
  let lastReport = started;
  const written = { tokens: 0, consents: 0 };
  for await (const batch of batches(clients, from, to)) {
    await writeLock.acquire();
    try {
      await write(batch);
    } finally {
      writeLock.release();
    }
    written.tokens += batch.rows.length;
    written.consents += batch.consents.length;
    if (from === 0 && Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(
        `seed: first part ${written.tokens} of ${to} tokens in ${seconds.toFixed(0)} s (${Math.round(written.tokens / seconds)}/s)\n`,
      );
    }
  }
  return written;
}

/**
 * SQLite takes one writer at a time, and a process waiting for its lock sleeps in SQLite's busy
 * handler (in growing steps) long after the lock is free: the parent hands the turn from process
 * to process instead, so each writes as soon as the previous one committed. PostgreSQL needs no turns.
 */
const writeLock =
  dialect === 'sqlite' && process.send
    ? {
        acquire: () =>
          new Promise((resolve) => {
            process.once('message', resolve);
            process.send('acquire');
          }),
        release: () => process.send('release'),
      }
    : { acquire: async () => {}, release: () => {} };

/** The parent's side of the turns: one child holds the write lock, the others queue. */
function turnTaker() {
  const waiting = [];
  let holder;
  const next = () => {
    holder = waiting.shift();
    holder?.send('granted');
  };
  return (child) =>
    child.on('message', (message) => {
      if (message === 'acquire') {
        waiting.push(child);
        if (!holder) next();
      } else if (message === 'release' && holder === child) next();
    });
}

/** Runs `PROCESSES` copies of this script, each on its part; resolves with what they wrote. */
function forkParts() {
  const takeTurns = turnTaker();
  const parts = Array.from({ length: PROCESSES }, (_, index) => [
    Math.floor((TOTAL * index) / PROCESSES),
    Math.floor((TOTAL * (index + 1)) / PROCESSES),
  ]);
  const script = new URL(import.meta.url).pathname;
  return Promise.all(
    parts.map(
      ([from, to]) =>
        new Promise((resolve, reject) => {
          const args = process.argv.slice(2).concat(['--part', `${from}-${to}`]);
          // A larger young generation: minting makes short-lived garbage by the gigabyte.
          const child = fork(script, args, { execArgv: ['--max-semi-space-size=64'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
          takeTurns(child);
          let output = '';
          child.stdout.on('data', (chunk) => {
            output += chunk;
          });
          child.once('exit', (code) =>
            code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`seed: part ${from}-${to} exited with ${code}`)),
          );
        }),
    ),
  );
}

try {
  if (flags.part) {
    const [from, to] = flags.part.split('-').map(Number);
    process.stdout.write(`${JSON.stringify(await writePart(from, to))}\n`);
  } else {
    const started = Date.now();
    const clients = await seedClients(true);
    const written = await forkParts();
    const insertSeconds = (Date.now() - started) / 1000;
    // What a database administrator does after a bulk load, so that neither store spends the
    // measurements catching up: PostgreSQL's statistics and visibility map; SQLite's log copied back.
    const { sql } = await import('kysely');
    if (dialect === 'sqlite') await sql`pragma wal_checkpoint(TRUNCATE)`.execute(registry.database.db);
    else await sql`vacuum (analyze) oauth2_tokens, consent_sessions`.execute(registry.database.db);
    const tokens = written.reduce((sum, part) => sum + part.tokens, 0);
    process.stdout.write(
      `${JSON.stringify({
        store: dialect,
        tokens,
        consents: written.reduce((sum, part) => sum + part.consents, 0),
        clients: clients.length,
        expiredShare: EXPIRED_SHARE,
        processes: PROCESSES,
        insertSeconds,
        seconds: (Date.now() - started) / 1000,
        tokensPerSecond: Math.round(tokens / insertSeconds),
      })}\n`,
    );
  }
} finally {
  await registry.close();
}
