import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../src/version.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

describe.each(STORES)('health, version and CORS ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        SERVE_PUBLIC_CORS_ENABLED: 'true',
        SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: 'https://app.example,https://*.tenant.example',
        SERVE_PUBLIC_CORS_MAX_AGE: '600',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers alive, ready and version on both listeners through Ory’s SDK', async () => {
    for (const metadata of [server.admin.metadata, server.pub.metadata]) {
      expect((await metadata.isAlive()).data).toEqual({ status: 'ok' });
      expect((await metadata.isReady()).data).toEqual({ status: 'ok' });
      expect((await metadata.getVersion()).data).toEqual({ version: VERSION });
    }
    for (const path of ['/health/alive', '/admin/health/alive', '/health/ready', '/admin/health/ready', '/version', '/admin/version']) {
      expect((await fetch(`${server.adminUrl}${path}`)).status, path).toBe(200);
    }
  });

  it('turns not-ready during shutdown', async () => {
    server.registry.lifecycle.shuttingDown = true;
    try {
      const response = await fetch(`${server.publicUrl}/health/ready`);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { errors: Record<string, string> }).errors.shutdown).toBeTruthy();
    } finally {
      server.registry.lifecycle.shuttingDown = false;
    }
  });

  it('allows configured origins (and globs) and answers preflights', async () => {
    const allowed = await fetch(`${server.publicUrl}/.well-known/jwks.json`, { headers: { origin: 'https://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(allowed.headers.get('vary')).toContain('Origin');

    const glob = await fetch(`${server.publicUrl}/.well-known/jwks.json`, { headers: { origin: 'https://acme.tenant.example' } });
    expect(glob.headers.get('access-control-allow-origin')).toBe('https://acme.tenant.example');

    const denied = await fetch(`${server.publicUrl}/.well-known/jwks.json`, { headers: { origin: 'https://evil.example' } });
    expect(denied.status).toBe(200);
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = await fetch(`${server.publicUrl}/.well-known/jwks.json`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(preflight.headers.get('access-control-max-age')).toBe('600');
  });

  it('leaves the admin listener without CORS unless configured', async () => {
    const response = await fetch(`${server.adminUrl}/admin/clients`, { headers: { origin: 'https://app.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe.each(STORES)('readiness before migrations ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { migrate: false });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 503 naming the pending migrations, while alive stays 200', async () => {
    const ready = await fetch(`${server.adminUrl}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { errors: Record<string, string> };
    expect(body.errors.migrations).toContain('0001-init');
    expect((await fetch(`${server.adminUrl}/health/alive`)).status).toBe(200);
  });
});
