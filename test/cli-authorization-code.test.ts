import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { freePort, startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');

describe.each(STORES.slice(0, 1))('portcullis perform authorization-code ($name)', (store) => {
  let server: TestServer;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    server = await startTestServer(store, { env: FLOW_ENV });
  });
  afterAll(async () => {
    for (const child of children) child.kill();
    await server?.close();
  });

  it('prints the authorization URL, receives the callback and prints the tokens', async () => {
    const port = await freePort();
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [`http://127.0.0.1:${port}/callback`],
        scope: 'openid offline',
        token_endpoint_auth_method: 'none',
      },
    });
    const child = spawn(process.execPath, [
      CLI,
      'perform',
      'authorization-code',
      '--client-id',
      data.client_id as string,
      '--port',
      String(port),
      '--endpoint',
      server.publicUrl,
      '--format',
      'json',
      '--no-open',
    ]);
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    let url: string | undefined;
    for (let i = 0; i < 100 && !url; i++) {
      url = /(http:\/\/127\.0\.0\.1:\d+\/oauth2\/auth\?\S+)/.exec(stderr)?.[1];
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    expect(url, stderr).toBeTruthy();
    expect(new URL(url as string).searchParams.get('code_challenge_method')).toBe('S256');
    // Hydra's default scope, which asks for a refresh token.
    expect(new URL(url as string).searchParams.get('scope')).toBe('offline openid');
    const { callback, response } = await runFlow(server, new Browser(), url as string);
    expect(callback.startsWith(`http://127.0.0.1:${port}/callback?code=`)).toBe(true);
    expect(response.status).toBe(200);
    const [exitCode] = await once(child, 'exit');
    expect(exitCode, stderr).toBe(0);
    const tokens = JSON.parse(stdout) as { access_token: string; refresh_token: string; id_token: string };
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toMatch(/^ory_rt_/);
    expect(tokens.id_token.split('.')).toHaveLength(3);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(true);
  });
});
