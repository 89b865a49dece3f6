/**
 * The built CLI (`dist/cli/main.js`, built by `npm test`) as real child processes: one-shot commands and
 * `portcullis serve` nodes that a test can start, wait for, stop gracefully or kill outright.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HYDRA_KEYS } from '../../src/config/hydra-keys.js';
import { envName, leaves } from '../../src/config/schema.js';
import { freePort } from './server.js';

export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The runner's environment without anything that would configure Portcullis behind a test's back. */
export const BASE_ENV: Record<string, string> = (() => {
  const configVars = new Set([
    ...leaves().map(([key]) => envName(key)),
    ...Object.keys(HYDRA_KEYS).map(envName),
    'ORY_SDK_URL',
    'PORTCULLIS_ADMIN_URL',
    'PORTCULLIS_ADMIN_API_KEY',
    'PORTCULLIS_PUBLIC_URL',
    'PORTCULLIS_INITIAL_ACCESS_TOKEN',
    'PORTCULLIS_REGISTRATION_ACCESS_TOKEN',
  ]);
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !configVars.has(entry[0])),
  );
})();

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process started here, so that `killAll` (in `afterAll`) leaves none behind when a test fails. */
const children = new Set<ChildProcess>();

/** Starts a command (its stdin a pipe when `stdin` is set); it is killed by `killAll` if still running. */
export function launch(args: string[], env: Record<string, string>, cwd?: string, stdin = false): ChildProcess {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...BASE_ENV, ...env },
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Temporary directories made here, so that `removeTempDirs` (in `afterAll`) deletes them all. */
const tempDirs: string[] = [];

/** A fresh temporary directory named `<prefix>…`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (at most `timeoutMs`), in `cwd` when given, with `stdin` written to it. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  cwd?: string,
  stdin?: string,
): Promise<CliResult> {
  const child = launch(args, env, cwd, stdin !== undefined);
  if (stdin !== undefined) child.stdin?.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portcullis ${args.join(' ')} did not finish in ${timeoutMs}ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Applies every pending migration to `dsn`, as an operator does before starting production nodes. */
export async function migrateUp(dsn: string): Promise<void> {
  const result = await runCli(['migrate', 'sql', 'up', dsn, '--yes']);
  if (result.code !== 0) throw new Error(`migrate sql up failed (${result.code}): ${result.stderr}`);
}

export interface NodeOptions {
  /** Environment settings (`DSN`, `SECRETS_SYSTEM`, …); ports and hosts are filled in unless given. */
  env: Record<string, string>;
  /** Extra arguments after `serve all` (e.g. `--dev`). */
  args?: string[];
  /** Reuse these ports (a restarted node keeps its address). */
  ports?: { public: number; admin: number };
  cwd?: string;
}

/** Both listeners on the given loopback ports, with cheap client-secret hashing for tests. */
export function loopbackServeEnv(ports: { public: number; admin: number }): Record<string, string> {
  return {
    SERVE_PUBLIC_PORT: String(ports.public),
    SERVE_ADMIN_PORT: String(ports.admin),
    SERVE_PUBLIC_HOST: '127.0.0.1',
    SERVE_ADMIN_HOST: '127.0.0.1',
    OAUTH2_HASHERS_PBKDF2_ITERATIONS: '1000',
  };
}

/** A command running as a child process: its output as it arrives, and its exit. */
export class CliProcess {
  stdout = '';
  stderr = '';
  exited = false;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string>, cwd?: string) {
    this.child = launch(args, env, cwd);
    this.child.stdout?.on('data', (chunk) => {
      this.stdout += chunk;
    });
    this.child.stderr?.on('data', (chunk) => {
      this.stderr += chunk;
    });
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Polls until `url` answers `status`, failing early when the process dies. */
  async waitFor(url: string, status = 200, timeoutMs = 15_000, intervalMs = 100): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`process exited before ${url} answered ${status}; output:\n${this.stderr}${this.stdout}`);
      try {
        const response = await fetch(url);
        if (response.status === status) return response;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = String((error as Error).cause ?? error);
      }
      await sleep(intervalMs);
    }
    throw new Error(`${url} did not answer ${status} within ${timeoutMs}ms (last: ${last}); output:\n${this.stderr}${this.stdout}`);
  }
}

/** A running `portcullis serve all` process on loopback ports. */
export class CliNode extends CliProcess {
  readonly publicUrl: string;
  readonly adminUrl: string;

  constructor(
    options: NodeOptions,
    readonly ports: { public: number; admin: number },
  ) {
    super(['serve', 'all', ...(options.args ?? [])], { ...loopbackServeEnv(ports), ...options.env }, options.cwd);
    this.publicUrl = `http://127.0.0.1:${ports.public}`;
    this.adminUrl = `http://127.0.0.1:${ports.admin}`;
  }

  /** Polls `/health/ready` on the admin listener until it answers 200, failing early if the process dies. */
  async ready(timeoutMs = 20_000): Promise<this> {
    await this.waitFor(`${this.adminUrl}/health/ready`, 200, timeoutMs, 50);
    return this;
  }

  /** Graceful stop (SIGTERM), waiting at most `timeoutMs` before killing. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exit;
    clearTimeout(timer);
  }

  /** `kill -9`: no shutdown code runs, requests in flight are cut off. */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.exit;
  }
}

/** Starts `serve all` (on fresh ports unless given) and waits until it is ready. */
export async function startNode(options: NodeOptions): Promise<CliNode> {
  const ports = options.ports ?? { public: await freePort(), admin: await freePort() };
  return new CliNode(options, ports).ready();
}
