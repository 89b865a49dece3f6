// The side-by-side benchmark (issue 6): Portcullis against oidc-provider, each in its own process,
// the load generated here. `npm run bench` runs every workload and writes bench/results/ and
// docs/performance.svg; `npm run bench:check` is the short CI regression check (W1, W2, W5, W6).
//
// Options: --check, --runs N, --duration S (seconds per run), --only W1,W2,..., --no-write,
//          --profile (Portcullis runs under `node --cpu-prof`, profiles in bench/profiles/),
//          --min-ratio R (with --check: the ratio every checked workload must hold, instead of its own),
//          --label NAME (write bench/results/steps/NAME.json and .md instead of the latest results:
//          the measurements behind "what each optimisation bought" in docs/performance.md),
//          --workers N (Portcullis runs `serve all --workers N`: docs/performance.md, "Every core"),
//          --store-size N (each store holds N seeded tokens before Portcullis starts, bench/seed.mjs, and
//          is measured against Portcullis on an empty store of its kind in place of the peer; W1, W2
//          and W6 on both stores unless --only says otherwise; the janitor timed afterwards; written
//          to bench/results/scale/N.json: docs/performance.md, "As the store grows").
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { flowDriver } from './lib/flows.mjs';
import {
  checkJwtAccessToken,
  clientCredentials,
  clientCredentialsDpop,
  clientCredentialsJwt,
  discovery,
  floorLoad,
  introspection,
  refreshRotation,
} from './lib/load.mjs';
import { median, printTable, writeResults } from './lib/report.mjs';
import { printScaleTable, seedStore, startEmptyTwin, timeJanitor } from './lib/scale.mjs';
import { createStore, ROOT, startFloor, startPeer, startPortcullis } from './lib/servers.mjs';

const { values: flags } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    label: { type: 'string' },
    'min-ratio': { type: 'string' },
    workers: { type: 'string', default: '1' },
    'store-size': { type: 'string' },
  },
});

const CHECK = flags.check;
const RUNS = Number(flags.runs ?? 3);
const DURATION = Number(flags.duration ?? (CHECK ? 3 : 6));
const WARMUP = CHECK ? 1 : 2;
const CONNECTIONS = 50;
const FLOW_CONCURRENCY = 32;
/** Tokens seeded into each store before Portcullis starts (0: none, the baseline); undefined without --store-size. */
const STORE_SIZE = flags['store-size'] === undefined ? undefined : Number(flags['store-size']);
if (STORE_SIZE !== undefined && !(Number.isSafeInteger(STORE_SIZE) && STORE_SIZE >= 0)) throw new Error('--store-size: a number of tokens');
/** What --store-size measures when --only does not say: the workloads whose statements touch the tokens table. */
const SCALE_WORKLOADS = 'W1,W2,W6,W1-pg,W2-pg,W6-pg';
const ONLY_LIST = flags.only ?? (STORE_SIZE !== undefined ? SCALE_WORKLOADS : undefined);
const ONLY = ONLY_LIST ? new Set(ONLY_LIST.split(',').map((name) => name.trim().toUpperCase())) : undefined;
/** With --min-ratio, the share of the peer every checked workload must hold (to see the check fail). */
const CHECK_MIN_RATIO = flags['min-ratio'] === undefined ? undefined : Number(flags['min-ratio']);

/**
 * The workloads, their targets (issues 6 and 17) and how each is run. `signatures`: the RS256
 * signatures each request (W5: each flow) makes on either server (counted by wrapping WebCrypto's
 * sign in both processes: one ID token per flow and per refresh, one JWT per W3 request), taken off
 * the CPU per request for the table of the cost beyond the signature. `checkRatio`: the share of the
 * peer `npm run bench:check` holds the workload to, with margin below what this machine measures
 * (docs/performance.md, "The CI check").
 */
const WORKLOADS = [
  {
    id: 'W1',
    title: 'client_credentials, opaque token',
    store: 'sqlite',
    peer: true,
    minRatio: 1.5,
    maxP99: 20,
    checkRatio: 0.8,
    make: clientCredentials,
  },
  {
    id: 'W2',
    title: 'introspection of a valid token',
    store: 'sqlite',
    peer: true,
    minRatio: 2,
    maxP99: 20,
    checkRatio: 0.8,
    make: introspection,
  },
  {
    id: 'W3',
    title: 'client_credentials, RS256 JWT',
    store: 'sqlite',
    peer: true,
    minRatio: 1.5,
    signatures: 1,
    minBeyondSignature: 2,
    make: clientCredentialsJwt,
  },
  { id: 'W4', title: 'discovery and JWKS', store: 'sqlite', peer: true, minRatio: 1, make: discovery },
  {
    id: 'W5',
    title: 'authorization code flows with PKCE',
    store: 'sqlite',
    peer: true,
    minRatio: 1.5,
    minRps: 400,
    signatures: 1,
    checkRatio: 0.6,
    unit: 'flows/s',
    flows: true,
  },
  {
    id: 'W6',
    title: 'refresh-token rotation',
    store: 'sqlite',
    peer: true,
    minRatio: 1.5,
    signatures: 1,
    checkRatio: 0.4,
    make: refreshRotation,
    refresh: true,
  },
  { id: 'W7', title: 'client_credentials with a DPoP proof', store: 'sqlite', peer: true, minRatio: 1.5, make: clientCredentialsDpop },
  { id: 'W1-pg', title: 'client_credentials, opaque token (PostgreSQL)', store: 'postgres', peer: true, make: clientCredentials },
  {
    id: 'W5-pg',
    title: 'authorization code flows with PKCE (PostgreSQL)',
    store: 'postgres',
    peer: false,
    maxCpuOf: { id: 'W5', ratio: 1.3 },
    unit: 'flows/s',
    flows: true,
  },
  // The same workloads on `serve all --workers 2` (its own store and process, in the same run: issue 17,
  // "Every core"). The load generator shares the two cores with both workers.
  { id: 'W1-2w', title: 'client_credentials, opaque token (2 workers)', store: 'sqlite', workers: 2, peer: true, make: clientCredentials },
  { id: 'W2-2w', title: 'introspection of a valid token (2 workers)', store: 'sqlite', workers: 2, peer: true, make: introspection },
  {
    id: 'W5-2w',
    title: 'authorization code flows with PKCE (2 workers)',
    store: 'sqlite',
    workers: 2,
    peer: true,
    unit: 'flows/s',
    flows: true,
  },
  // Run when named (--only) or with --store-size, not by `npm run bench`.
  { id: 'W2-pg', title: 'introspection of a valid token (PostgreSQL)', store: 'postgres', peer: true, make: introspection, named: true },
  {
    id: 'W6-pg',
    title: 'refresh-token rotation (PostgreSQL)',
    store: 'postgres',
    peer: true,
    make: refreshRotation,
    refresh: true,
    named: true,
  },
]
  .filter((workload) => (CHECK ? workload.checkRatio !== undefined : ONLY ? ONLY.has(workload.id.toUpperCase()) : !workload.named))
  // A seeded store is compared with an empty one, not with the peer (which keeps nothing).
  .map((workload) => (STORE_SIZE !== undefined ? { ...workload, peer: false } : workload));

const RSS_LIMIT_MB = 250;

/** The workers a workload's Portcullis runs with: its own, else --workers. */
function workersOf(workload) {
  return workload.workers ?? Number(flags.workers);
}

function log(message) {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** Builds dist/ when a source file is newer than the CLI (the check runs after `npm test` has built). */
function ensureBuilt() {
  const cli = join(ROOT, 'dist/cli/main.js');
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const path = join(dir, entry.name);
      return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest(join(ROOT, 'src'))) return;
  log('building dist/ (npm run build)');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * What one RS256 signature with a 2048-bit key costs on this machine (CPU µs, one thread): the floor
 * under every workload that signs (W3, and the ID tokens of W5 and W6), for both servers alike.
 */
function rsaSignCost() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = Buffer.alloc(400, 1);
  for (let i = 0; i < 20; i++) sign('sha256', data, privateKey);
  const samples = [];
  for (let round = 0; round < 5; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < 40; i++) sign('sha256', data, privateKey);
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / 40);
  }
  return Math.round(median(samples));
}

/** A workload on the servers given, `RUNS` times, alternating which server goes first; medians. */
async function measureAlternating(workload, servers) {
  const runners = servers.map((server) => workload.runner(server));
  for (const [index, runner] of runners.entries()) {
    log(`${workload.id} warm-up on ${servers[index].name}`);
    await runner.run(WARMUP);
  }
  const samples = servers.map(() => []);
  for (let round = 0; round < RUNS; round++) {
    const order = round % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
    for (const index of order) {
      // Work a sample needs done first (W6's refill of refresh tokens by full flows) stays outside its CPU window.
      await runners[index].prepare?.(DURATION);
      const cpuBefore = servers[index].cpuMs();
      const sample = await runners[index].run(DURATION);
      // CPU the server spent per completed request (or flow): unlike throughput, barely moved by
      // other work competing for the machine.
      sample.cpuMs = (servers[index].cpuMs() - cpuBefore) / Math.max(1, sample.requests);
      samples[index].push(sample);
      log(
        `${workload.id} run ${round + 1}/${RUNS} ${servers[index].name}: ${sample.rps.toFixed(0)}/s p50 ${fmt(sample.p50)} ms p99 ${fmt(sample.p99)} ms errors ${sample.errors} cpu ${(sample.cpuMs * 1000).toFixed(0)} µs each${sample.driverCpuMs ? ` (driver ${(sample.driverCpuMs * 1000).toFixed(0)} µs)` : ''}`,
      );
    }
  }
  return samples.map((runs) => ({
    rps: median(runs.map((run) => run.rps)),
    p50: median(runs.map((run) => run.p50)),
    p99: median(runs.map((run) => run.p99)),
    cpuMs: median(runs.map((run) => run.cpuMs)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    runs,
  }));
}

function fmt(value) {
  return Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '-';
}

/**
 * How each workload is run against one server: `run(seconds)` gives one sample. `drivers` maps each
 * server to its flow driver (W5 on both; on Portcullis also the flows whose refresh tokens W6 rotates).
 */
function prepare(workload, drivers) {
  if (workload.flows) {
    return (target) => ({ run: (duration) => drivers.get(target).measure({ concurrency: FLOW_CONCURRENCY, duration }) });
  }
  return (target) => {
    const options = { connections: CONNECTIONS };
    if (workload.refresh) {
      options.refill = target.mintRefreshTokens ?? ((count) => drivers.get(target).refreshTokens(count));
    }
    const cache = new Map();
    const runnerFor = (duration) => {
      if (!cache.has(duration)) cache.set(duration, workload.make(target, { ...options, duration }));
      return cache.get(duration);
    };
    return { prepare: (duration) => runnerFor(duration).prepare?.(), run: (duration) => runnerFor(duration)() };
  };
}

async function main() {
  ensureBuilt();
  const started = Date.now();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    rsaSignUs: rsaSignCost(),
    /** One-minute load average when the run started and ended: how busy the machine was besides. */
    load: { start: Math.round(loadavg()[0] * 100) / 100, end: 0 },
  };
  const profileArgs = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench/profiles')}`] : [];
  if (flags.profile) mkdirSync(join(ROOT, 'bench/profiles'), { recursive: true });

  // The machine's floor: a bare node:http server under the same load (full runs only).
  if (!CHECK) {
    const floor = await startFloor();
    try {
      const run = floorLoad(floor, { connections: CONNECTIONS });
      await run(WARMUP);
      const samples = [];
      for (let round = 0; round < RUNS; round++) samples.push(await run(Math.min(DURATION, 3)));
      machine.floor = {
        rps: median(samples.map((x) => x.rps)),
        p50: median(samples.map((x) => x.p50)),
        p99: median(samples.map((x) => x.p99)),
      };
      log(`floor (bare node:http): ${machine.floor.rps.toFixed(0)}/s p50 ${fmt(machine.floor.p50)} ms p99 ${fmt(machine.floor.p99)} ms`);
    } finally {
      await floor.stop();
    }
  }

  const peer = WORKLOADS.some((workload) => workload.peer) ? await startPeer() : undefined;
  const drivers = new Map();
  if (peer && WORKLOADS.some((workload) => workload.flows && workload.peer)) {
    drivers.set(peer, flowDriver(peer, { connections: FLOW_CONCURRENCY }));
  }
  const results = [];
  const memory = {};
  const scale = STORE_SIZE !== undefined ? { storeSize: STORE_SIZE, seeded: {}, janitor: {} } : undefined;
  try {
    if (peer) await checkJwtAccessToken(peer);
    // One store and one Portcullis per (store, workers): each instance is measured against the same peer.
    const instances = [
      ...new Map(
        WORKLOADS.map((workload) => [
          `${workload.store}/${workersOf(workload)}`,
          { storeKind: workload.store, workers: workersOf(workload) },
        ]),
      ).values(),
    ].sort((a, b) => (a.storeKind === b.storeKind ? a.workers - b.workers : a.storeKind === 'sqlite' ? -1 : 1));
    for (const { storeKind, workers } of instances) {
      const workloads = WORKLOADS.filter((workload) => workload.store === storeKind && workersOf(workload) === workers);
      const store = await createStore(storeKind);
      const seeding = STORE_SIZE > 0 ? await seedStore(store, STORE_SIZE, log) : undefined;
      if (seeding) scale.seeded[storeKind] = seeding.seeded;
      const ours = await startPortcullis(store, {
        nodeArgs: profileArgs,
        workers,
        env: seeding ? { SECRETS_SYSTEM: seeding.secret } : {},
      });
      const needsDriver = workloads.some((workload) => workload.flows || workload.refresh);
      if (needsDriver) drivers.set(ours, flowDriver(ours, { connections: FLOW_CONCURRENCY }));
      const twin = STORE_SIZE > 0 ? await startEmptyTwin(storeKind, { workers, needsDriver }) : undefined;
      if (twin?.server.flowDriver) drivers.set(twin.server, twin.server.flowDriver);
      log(
        `Portcullis (${storeKind}${workers > 1 ? `, ${workers} workers` : ''}) at ${ours.publicUrl}${peer ? `, oidc-provider at ${peer.publicUrl}` : ''}`,
      );
      try {
        await checkJwtAccessToken(ours);
        for (const workload of workloads) {
          const servers = workload.peer ? [ours, peer] : twin ? [ours, twin.server] : [ours];
          const [mine, theirs] = await measureAlternating({ ...workload, runner: prepare(workload, drivers) }, servers);
          const { make: _make, ...described } = workload;
          if (twin) results.push({ ...described, ours: mine, emptyStore: theirs });
          else results.push({ ...described, ours: mine, peer: theirs, ratio: theirs ? mine.rps / theirs.rps : undefined });
        }
        memory[`portcullis-${storeKind}${workers > 1 ? `-${workers}-workers` : ''}`] = ours.memory();
      } finally {
        await drivers.get(ours)?.close();
        drivers.delete(ours);
        await ours.stop();
        await twin?.stop();
        if (STORE_SIZE > 0) {
          scale.janitor[storeKind] = await timeJanitor(store);
          log(`janitor on ${storeKind}: ${JSON.stringify(scale.janitor[storeKind])}`);
        }
        await store.drop();
      }
    }
    if (peer) memory['oidc-provider'] = peer.memory();
  } finally {
    await drivers.get(peer)?.close();
    await peer?.stop();
  }

  machine.load.end = Math.round(loadavg()[0] * 100) / 100;
  const beyondSignature = costBeyondSignature(results, machine.rsaSignUs);
  const report = evaluate({ machine, results, beyondSignature, memory, seconds: (Date.now() - started) / 1000 });
  if (scale) report.scale = scale;
  printTable(report);
  if (scale) printScaleTable(report);
  if (scale) {
    // The scale runs keep their own files: the latest results and the steps stay as `npm run bench` left them.
    if (!flags['no-write']) {
      mkdirSync(join(ROOT, 'bench/results/scale'), { recursive: true });
      writeFileSync(join(ROOT, `bench/results/scale/${STORE_SIZE}.json`), `${JSON.stringify(report, null, 2)}\n`);
      log(`wrote bench/results/scale/${STORE_SIZE}.json`);
    }
  } else if (!CHECK && !flags['no-write']) writeResults(report, flags.label);
  if (CHECK) {
    const failing = report.targets.filter((target) => !target.holds);
    for (const target of failing) log(`FAIL ${target.target}: ${target.value}`);
    if (failing.length > 0) process.exitCode = 1;
    else log(`bench:check passed: ${results.map((row) => row.id).join(', ')} at or above their share of the peer`);
  }
}

/**
 * The CPU each server spends per request (W5: per flow) beside its RS256 signatures, which cost both
 * servers the same (the machine's calibrated `rsaSignUs` each): for the workloads that sign, on both servers.
 */
function costBeyondSignature(results, rsaSignUs) {
  return results
    .filter((row) => row.signatures !== undefined && row.peer)
    .map((row) => {
      const signedUs = row.signatures * rsaSignUs;
      const ours = row.ours.cpuMs * 1000 - signedUs;
      const peer = row.peer.cpuMs * 1000 - signedUs;
      // How many times less CPU than the peer Portcullis spends beyond the signatures (higher is better).
      return {
        id: row.id,
        title: row.title,
        unit: row.unit,
        signatures: row.signatures,
        signedUs,
        ours,
        peer,
        ratio: peer / ours,
        minRatio: row.minBeyondSignature,
      };
    });
}

/** The targets of issues 6 and 17 against what this run measured (for --check: the regression check's ratios). */
function evaluate({ machine, results, beyondSignature, memory, seconds }) {
  const targets = [];
  if (CHECK) {
    for (const row of results) {
      const minRatio = CHECK_MIN_RATIO ?? row.checkRatio;
      targets.push({
        target: `${row.id} ≥ ${minRatio}× the peer (CI check)`,
        value: `${row.ratio.toFixed(2)}×`,
        holds: row.ratio >= minRatio,
      });
    }
  }
  for (const row of CHECK ? [] : results) {
    if (row.minRatio !== undefined && row.ratio !== undefined) {
      targets.push({
        target: `${row.id} ≥ ${row.minRatio}× the peer`,
        value: `${row.ratio.toFixed(2)}×`,
        holds: row.ratio >= row.minRatio,
      });
    }
    if (row.minRps !== undefined) {
      targets.push({
        target: `${row.id} ≥ ${row.minRps} ${row.unit}`,
        value: `${row.ours.rps.toFixed(0)} ${row.unit}`,
        holds: row.ours.rps >= row.minRps,
      });
    }
    if (row.maxP99 !== undefined) {
      targets.push({
        target: `${row.id} p99 < ${row.maxP99} ms at ${CONNECTIONS} connections`,
        value: `${fmt(row.ours.p99)} ms`,
        holds: row.ours.p99 < row.maxP99,
      });
    }
    const base = row.maxCpuOf && results.find((other) => other.id === row.maxCpuOf.id);
    if (base) {
      const ratio = row.ours.cpuMs / base.ours.cpuMs;
      targets.push({
        target: `${row.id} CPU per ${row.unit === 'flows/s' ? 'flow' : 'request'} ≤ ${row.maxCpuOf.ratio}× ${base.id}'s`,
        value: `${ratio.toFixed(2)}× (${(row.ours.cpuMs * 1000).toFixed(0)} against ${(base.ours.cpuMs * 1000).toFixed(0)} µs)`,
        holds: ratio <= row.maxCpuOf.ratio,
      });
    }
  }
  for (const row of CHECK ? [] : beyondSignature) {
    if (row.minRatio !== undefined) {
      targets.push({
        target: `${row.id} CPU beyond the signature ≥ ${row.minRatio}× the peer (peer's over ours)`,
        value: `${row.ratio.toFixed(2)}× (${row.ours.toFixed(0)} against ${row.peer.toFixed(0)} µs)`,
        holds: row.ratio >= row.minRatio,
      });
    }
  }
  const errors = results.reduce((sum, row) => sum + row.ours.errors, 0);
  if (!CHECK) targets.push({ target: 'no errors (Portcullis, every run)', value: String(errors), holds: errors === 0 });
  for (const [name, usage] of Object.entries(CHECK ? {} : memory)) {
    if (!name.startsWith('portcullis')) continue;
    if ((usage.perProcessRssMb?.length ?? 1) > 1) {
      // The limit is per process: a primary and its workers are each held to it.
      const largest = Math.max(...usage.perProcessRssMb);
      targets.push({
        target: `${name} RSS < ${RSS_LIMIT_MB} MB per process after the run`,
        value: `${largest} MB in the largest of ${usage.perProcessRssMb.length} (${usage.rssMb} MB together)`,
        holds: largest < RSS_LIMIT_MB,
      });
    } else {
      targets.push({
        target: `${name} RSS < ${RSS_LIMIT_MB} MB after the run`,
        value: `${usage.rssMb} MB (peak ${usage.peakRssMb} MB)`,
        holds: usage.rssMb < RSS_LIMIT_MB,
      });
    }
  }
  return {
    date: new Date().toISOString(),
    mode: CHECK ? 'check' : 'full',
    ...(flags.label ? { label: flags.label } : {}),
    machine,
    settings: { runs: RUNS, durationSeconds: DURATION, warmupSeconds: WARMUP, connections: CONNECTIONS, flowConcurrency: FLOW_CONCURRENCY },
    results,
    beyondSignature,
    memory,
    targets,
    seconds,
  };
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
