/**
 * TLS in the process (`serve.tls`, per listener, from a file and from `SERVE_TLS_*`), certificate
 * renewal without a restart, `allow_termination_from`, Unix socket listeners and CORS
 * `options_passthrough` / `debug`. Certificates are made by `openssl` for each run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import Fastify from 'fastify';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../src/cli/self-signed.js';
import { loadConfig } from '../src/config/load.js';
import { listen } from '../src/http/listen.js';
import { listenerTransport } from '../src/http/tls.js';
import { CliNode, CliProcess, killAll, loopbackServeEnv, removeTempDirs, runCli, sleep, tempDir } from './support/cli.js';
import { freePort, startTestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const SQLITE = STORES[0] as (typeof STORES)[number];
const SECRET = 'tls-test-secret-0123456789';

interface Pair {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  fingerprint: string;
}

/** A self-signed certificate for 127.0.0.1 and localhost, and its key, in `dir` as `<name>.crt`/`.key`. */
function makePair(dir: string, name: string): Pair {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certPath, 'utf8');
  return { cert, key: readFileSync(keyPath, 'utf8'), certPath, keyPath, fingerprint: new X509Certificate(cert).fingerprint256 };
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

/** fetch trusting only `ca` (the test's self-signed certificate). */
function fetchTrusting(ca: string) {
  const dispatcher = new Agent({ connect: { ca } });
  return (url: string, init: Parameters<typeof undiciFetch>[1] = {}) => undiciFetch(url, { ...init, dispatcher });
}

/** The SHA-256 fingerprint of the certificate a new connection to `port` is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe().catch(() => undefined as T);
    if (last !== undefined && accept(last)) return last;
    await sleep(100);
  }
  throw new Error(`condition not met within ${timeoutMs}ms (last: ${String(last)})`);
}

async function httpsReady(node: CliProcess, url: string, ca: string): Promise<void> {
  const fetchCa = fetchTrusting(ca);
  await eventually(
    async () => {
      if (node.exited) throw new Error(`node exited: ${node.stderr}${node.stdout}`);
      return (await fetchCa(url)).status;
    },
    (status) => status === 200,
    45_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; output:\n${node.stderr}${node.stdout}`);
  });
}

afterAll(() => {
  killAll();
  removeTempDirs();
});

describe('HTTPS through the real CLI', () => {
  it('serves both listeners over HTTPS from the file’s serve.tls keys, and renews the certificate without a restart', async () => {
    const dir = tempDir('portcullis-tls-');
    const first = makePair(dir, 'first');
    const second = makePair(dir, 'second');
    const certPath = join(dir, 'tls.crt');
    const keyPath = join(dir, 'tls.key');
    copyFileSync(first.certPath, certPath);
    copyFileSync(first.keyPath, keyPath);
    const file = join(dir, 'portcullis.yml');
    writeFileSync(file, `serve:\n  tls:\n    cert:\n      path: ${certPath}\n    key:\n      path: ${keyPath}\n`);
    const ports = { public: await freePort(), admin: await freePort() };
    const issuer = `https://127.0.0.1:${ports.public}/`;
    // Production mode: no --dev.
    const node = new CliProcess(['serve', 'all', '-c', file], {
      ...loopbackServeEnv(ports),
      DSN: 'memory',
      SECRETS_SYSTEM: SECRET,
      URLS_SELF_ISSUER: issuer,
    });
    const publicUrl = `https://127.0.0.1:${ports.public}`;
    const adminUrl = `https://127.0.0.1:${ports.admin}`;
    await httpsReady(node, `${adminUrl}/health/ready`, first.cert);
    expect(node.stderr).toContain(`"url":"${publicUrl}"`);
    expect(node.stderr).toContain(`"url":"${adminUrl}"`);
    expect(node.stderr).not.toContain('HTTPS is disabled');
    const overFirst = fetchTrusting(first.cert);

    const discovery = (await (await overFirst(`${publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(discovery.issuer).toBe(issuer);
    expect(discovery.token_endpoint).toBe(`${issuer}oauth2/token`);
    const created = await overFirst(`${adminUrl}/admin/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', scope: 'read' }),
    });
    expect(created.status).toBe(201);
    const client = (await created.json()) as { client_id: string; client_secret: string };
    const token = await overFirst(`${publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
        scope: 'read',
      }),
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { access_token: string }).access_token).toMatch(/^ory_at_/);
    // Plain HTTP on an HTTPS port gets no answer, let alone a token.
    await expect(fetch(`http://127.0.0.1:${ports.public}/.well-known/openid-configuration`)).rejects.toThrow();

    // A certificate whose key has not arrived yet is refused; the one served stays.
    expect(await servedFingerprint(ports.public)).toBe(first.fingerprint);
    writeFileSync(certPath, second.cert);
    await eventually(
      async () => node.stderr,
      (out) => out.includes('TLS certificate not reloaded'),
    );
    expect(node.stderr).toContain('are not a usable pair');
    expect(await servedFingerprint(ports.public)).toBe(first.fingerprint);
    // Its key completes the pair: new connections get the new certificate, from the same process.
    writeFileSync(keyPath, second.key);
    await eventually(
      () => servedFingerprint(ports.public),
      (fingerprint) => fingerprint === second.fingerprint,
    );
    await eventually(
      () => servedFingerprint(ports.admin),
      (fingerprint) => fingerprint === second.fingerprint,
    );
    expect(node.exited).toBe(false);
    expect((await fetchTrusting(second.cert)(`${publicUrl}/.well-known/openid-configuration`)).status).toBe(200);
    // A new connection that trusts only the old certificate fails; open ones keep theirs until they close.
    await expect(fetchTrusting(first.cert)(`${publicUrl}/health/alive`)).rejects.toThrow();
    expect((await overFirst(`${publicUrl}/health/alive`)).status).toBe(200);
    node.child.kill('SIGTERM');
    await node.exit;
  }, 120_000);

  it('reads SERVE_TLS_* from the environment, a listener’s own keys (base64) winning over the shared ones', async () => {
    const dir = tempDir('portcullis-tls-env-');
    const shared = makePair(dir, 'shared');
    const admin = makePair(dir, 'admin');
    const ports = { public: await freePort(), admin: await freePort() };
    const node = new CliProcess(['serve', 'all', '--dev'], {
      ...loopbackServeEnv(ports),
      DSN: 'memory',
      SERVE_TLS_CERT_PATH: shared.certPath,
      SERVE_TLS_KEY_PATH: shared.keyPath,
      SERVE_ADMIN_TLS_CERT_BASE64: base64(admin.cert),
      SERVE_ADMIN_TLS_KEY_BASE64: base64(admin.key),
    });
    await httpsReady(node, `https://127.0.0.1:${ports.admin}/health/ready`, admin.cert);
    await httpsReady(node, `https://127.0.0.1:${ports.public}/health/ready`, shared.cert);
    expect(await servedFingerprint(ports.public)).toBe(shared.fingerprint);
    expect(await servedFingerprint(ports.admin)).toBe(admin.fingerprint);
    node.child.kill('SIGTERM');
    await node.exit;
  }, 90_000);

  it('says so when a production listener serves plain HTTP, as Hydra warns', async () => {
    const node = new CliNode({ env: { DSN: 'memory', SECRETS_SYSTEM: SECRET } }, { public: await freePort(), admin: await freePort() });
    await node.ready(45_000);
    for (const listener of ['public', 'admin']) {
      expect(node.stderr).toMatch(new RegExp(`"listener":"${listener}".*"msg":"HTTPS is disabled: make sure a proxy`));
    }
    await node.stop();
  }, 90_000);

  it('stops start-up with the reason when the pair is missing, unreadable or mismatched, never falling back to HTTP', async () => {
    const dir = tempDir('portcullis-tls-bad-');
    const one = makePair(dir, 'one');
    const other = makePair(dir, 'other');
    const ports = { public: await freePort(), admin: await freePort() };
    const serve = (env: Record<string, string>) =>
      runCli(['serve', 'all', '--dev'], { ...loopbackServeEnv(ports), DSN: 'memory', ...env }, 60_000);
    const [missingFile, mismatched, certOnly, enabledOnly, notPem] = await Promise.all([
      serve({ SERVE_TLS_CERT_PATH: one.certPath, SERVE_TLS_KEY_PATH: join(dir, 'absent.key') }),
      serve({ SERVE_TLS_CERT_PATH: one.certPath, SERVE_TLS_KEY_PATH: other.keyPath }),
      serve({ SERVE_PUBLIC_TLS_CERT_PATH: one.certPath }),
      serve({ SERVE_TLS_ENABLED: 'true' }),
      serve({ SERVE_TLS_CERT_BASE64: 'bm90IGEgY2VydGlmaWNhdGU=', SERVE_TLS_KEY_PATH: one.keyPath }),
    ]);
    for (const result of [missingFile, mismatched, certOnly, enabledOnly, notPem]) expect(result.code, result.stderr).toBe(1);
    // The reason is the last line, after the start-up log.
    const reason = (result: { stderr: string }) => result.stderr.trimEnd().split('\n').at(-1);
    expect(reason(missingFile)).toMatch(
      /^invalid configuration: serve\.tls\.key\.path: cannot read the private key file .*absent\.key: ENOENT/,
    );
    expect(reason(mismatched)).toMatch(
      /^invalid configuration: serve\.public: the certificate \(serve\.tls\.cert\.path .*one\.crt\) and private key \(serve\.tls\.key\.path .*other\.key\) are not a usable pair: .*mismatch/,
    );
    expect(reason(certOnly)).toBe(
      'invalid configuration: serve.public.tls.cert.path is set but no private key goes with it: set serve.tls.key.path or serve.tls.key.base64 too',
    );
    expect(reason(enabledOnly)).toMatch(/^invalid configuration: serve\.public: TLS is enabled but no certificate is set/);
    expect(reason(notPem)).toBe(
      'invalid configuration: serve.tls.cert.base64: the value is no PEM-encoded certificate once base64-decoded',
    );
    // Nothing listened meanwhile.
    for (const result of [missingFile, mismatched, certOnly, enabledOnly, notPem]) expect(result.stderr).not.toContain('listener ready');
  }, 90_000);
});

describe('in the process', () => {
  it('makes self-signed certificates that always parse (a DER serial has no leading zero byte)', () => {
    // One serial in 512 began 0x00 0x0…, which DER forbids; 2000 certificates find that with near certainty.
    for (let i = 0; i < 2000; i++) {
      const { cert } = selfSignedCertificate();
      const parsed = new X509Certificate(cert);
      expect(parsed.serialNumber).toMatch(/^(0[1-9A-F]|[1-7][0-9A-F])[0-9A-F]{30}$/);
    }
  });

  it('keeps the listener hardening over TLS, and serves a Unix socket listener with its mode and owner', async () => {
    const dir = tempDir('portcullis-tls-sock-');
    const pair = makePair(dir, 'pair');
    const socket = join(dir, 'admin.sock');
    // A socket file left by a process that was killed, which a restart must replace.
    const stale = spawnSync(process.execPath, [
      '-e',
      "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      socket,
    ]);
    expect(stale.signal).toBe('SIGKILL');
    expect(lstatSync(socket).isSocket()).toBe(true);
    const asRoot = process.getuid?.() === 0;
    const server = await startTestServer(SQLITE, {
      env: {
        SERVE_TLS_CERT_PATH: pair.certPath,
        SERVE_TLS_KEY_PATH: pair.keyPath,
        SERVE_MAX_HEADER_SIZE: '2048',
        SERVE_ADMIN_HOST: `unix:${socket}`,
        SERVE_ADMIN_SOCKET_MODE: String(0o660),
        ...(asRoot ? { SERVE_ADMIN_SOCKET_OWNER: 'nobody', SERVE_ADMIN_SOCKET_GROUP: '4242' } : {}),
      },
    });
    try {
      expect(server.publicUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(server.adminUrl).toBe(`unix:${socket}`);
      const overTls = fetchTrusting(pair.cert);
      expect((await overTls(`${server.publicUrl}/health/ready`)).status).toBe(200);
      // max_header_size still answers 431 on an HTTPS listener (Fastify builds that server from `https` alone).
      const tooLarge = await overTls(`${server.publicUrl}/health/alive`, { headers: { 'x-padding': 'a'.repeat(4096) } });
      expect(tooLarge.status).toBe(431);

      const stats = lstatSync(socket);
      expect(stats.isSocket()).toBe(true);
      expect(stats.mode & 0o777).toBe(0o660);
      if (asRoot) {
        const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
        expect([stats.uid, stats.gid]).toEqual([nobody, 4242]);
      }
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ socketPath: socket, path: '/admin/health/ready' }, (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(answer).toEqual({ status: 200, body: '{"status":"ok"}' });
      expect(server.logs.join('')).toContain('TLS settings do not apply to a Unix socket listener');
    } finally {
      await server.close();
    }
    // A clean stop leaves no socket file behind.
    expect(existsSync(socket)).toBe(false);
  });

  it('passes a CORS preflight on to the route with options_passthrough, logging the decisions with debug', async () => {
    const server = await startTestServer(SQLITE, {
      env: {
        SERVE_PUBLIC_CORS_ENABLED: 'true',
        SERVE_PUBLIC_CORS_OPTIONS_PASSTHROUGH: 'true',
        SERVE_PUBLIC_CORS_DEBUG: 'true',
        SERVE_ADMIN_CORS_ENABLED: 'true',
      },
    });
    try {
      const preflight = { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } };
      const passed = await fetch(`${server.publicUrl}/oauth2/token`, preflight);
      // The route answers (the token endpoint takes only POST): not the CORS handler's 204.
      expect(passed.status).toBe(405);
      expect(passed.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(passed.headers.get('access-control-allow-methods')).toContain('POST');
      const answered = await fetch(`${server.adminUrl}/admin/clients`, preflight);
      expect(answered.status).toBe(204);
      expect(answered.headers.get('access-control-allow-origin')).toBe('https://app.example');
      await fetch(`${server.publicUrl}/health/alive`, { headers: { origin: 'https://app.example' } });
      const logs = server.logs.join('');
      expect(logs).toContain('CORS: preflight allowed and passed on to the route');
      expect(logs).toContain('CORS: origin allowed');
      expect(logs).not.toContain('CORS: preflight allowed and answered');
    } finally {
      await server.close();
    }
  });

  it('serves plain HTTP only to TLS-terminating proxies in allow_termination_from that forward https', async () => {
    const server = await startTestServer(SQLITE, {
      env: {
        SERVE_PUBLIC_TLS_ALLOW_TERMINATION_FROM: '127.0.0.0/8',
        SERVE_TLS_ALLOW_TERMINATION_FROM: '10.0.0.0/8,fd00::/8',
      },
    });
    try {
      const discovery = `${server.publicUrl}/.well-known/openid-configuration`;
      expect((await fetch(discovery, { headers: { 'x-forwarded-proto': 'https' } })).status).toBe(200);
      const bare = await fetch(discovery);
      expect(bare.status).toBe(502);
      expect(await bare.json()).toEqual({
        error: 'can not serve request over insecure http',
        error_description: 'The X-Forwarded-Proto header is missing.',
      });
      expect((await fetch(discovery, { headers: { 'x-forwarded-proto': 'http' } })).status).toBe(502);
      // The admin listener trusts only 10.0.0.0/8 and fd00::/8: loopback is no proxy of its, whatever it claims.
      const admin = await fetch(`${server.adminUrl}/admin/clients`, {
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.0.0.1' },
      });
      expect(admin.status).toBe(502);
      // Health checks stay reachable for the proxy's own probes.
      expect((await fetch(`${server.adminUrl}/health/ready`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('leaves a Unix socket that still answers, and a file that is no socket, in place', async () => {
    const dir = tempDir('portcullis-sock-busy-');
    const busy = join(dir, 'busy.sock');
    const owner = createNetServer();
    await new Promise<void>((resolve) => owner.listen(busy, resolve));
    const plain = join(dir, 'plain.file');
    writeFileSync(plain, 'not a socket');
    try {
      await expect(listen(Fastify(), 0, `unix:${busy}`)).rejects.toThrow(`unix:${busy}: another process is listening on this socket`);
      await expect(listen(Fastify(), 0, `unix:${plain}`)).rejects.toThrow(`unix:${plain}: a file that is not a socket is in the way`);
      await expect(
        listen(Fastify(), 0, `unix:${join(dir, 'named.sock')}`, {
          settings: { owner: 'no-such-user-here', group: '', mode: 0o755 },
          key: 'serve.admin.socket',
        }),
      ).rejects.toThrow('serve.admin.socket.owner: no entry named "no-such-user-here" in /etc/passwd');
      expect(lstatSync(busy).isSocket()).toBe(true);
      expect(readFileSync(plain, 'utf8')).toBe('not a socket');
    } finally {
      await new Promise((resolve) => owner.close(resolve));
    }
  });

  it('refuses an allow_termination_from entry that is not a CIDR range', () => {
    for (const range of ['10.0.0.0/33', '10.0.0.1', 'fd00::/129', 'proxy.example/8']) {
      const { serve } = loadConfig({ env: { SERVE_TLS_ALLOW_TERMINATION_FROM: range } });
      expect(() => listenerTransport(serve, 'public'), range).toThrow(`serve.tls.allow_termination_from: "${range}" is not a CIDR range`);
    }
  });
});
