/**
 * `portcullis perform device-code` against a live server, as Hydra's `hydra perform device-code`:
 * the command is the device; the test is the person (a cookie-keeping browser, the login and consent
 * apps played with Ory's SDK), once through the server's verification redirect and once through the
 * command's own code-entry page (`-p`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, parseForm, runFlow, submitForm } from './support/browser.js';
import { CliProcess, killAll, sleep } from './support/cli.js';
import { freePort, startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

/** Where the test's device verification "app" and success page live; the test plays them. */
const VERIFICATION = 'http://device.test/device';
const SUCCESS = 'http://device.test/done';

/** The URL the command prints on stderr, in Hydra's words (`To login please go to:` and a tab). */
async function printedUrl(cli: CliProcess): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const match = /^To login please go to:\n\t (\S+)\n/.exec(cli.stderr);
    if (match) return match[1] as string;
    if (cli.exited) break;
    await sleep(50);
  }
  throw new Error(`no verification URL printed:\n${cli.stderr}`);
}

describe.each(STORES)('portcullis perform device-code ($name)', (store) => {
  let server: TestServer;
  let publicClient: string;
  let secretClient: { id: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        ...FLOW_ENV,
        URLS_DEVICE_VERIFICATION: VERIFICATION,
        URLS_DEVICE_SUCCESS: SUCCESS,
        OAUTH2_DEVICE_AUTHORIZATION_TOKEN_POLLING_INTERVAL: '1s',
      },
    });
    const grants = ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'];
    const made = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: grants, scope: 'openid offline', token_endpoint_auth_method: 'none' },
    });
    publicClient = made.data.client_id as string;
    const confidential = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: grants, scope: 'openid offline', token_endpoint_auth_method: 'client_secret_post' },
    });
    secretClient = { id: confidential.data.client_id as string, secret: confidential.data.client_secret as string };
  });
  afterAll(async () => {
    killAll();
    await server?.close();
  });

  /** The person: opens the printed URL and is sent to the verification app with the device challenge. */
  async function openVerification(browser: Browser, url: string): Promise<{ challenge: string; userCode: string }> {
    const { url: landed } = await browser.follow(url);
    expect(landed.startsWith(`${VERIFICATION}?`), landed).toBe(true);
    const query = new URL(landed).searchParams;
    return { challenge: query.get('device_challenge') as string, userCode: query.get('user_code') as string };
  }

  async function tokensOf(cli: CliProcess) {
    const { code } = await cli.exit;
    expect(code, cli.stderr).toBe(0);
    expect(cli.stderr).toContain('Successfully signed in!\n');
    return JSON.parse(cli.stdout) as { access_token: string; refresh_token?: string; id_token?: string };
  }

  it('prints the verification URL as Hydra does, polls while the person signs in, and prints the tokens', async () => {
    const cli = new CliProcess(
      ['perform', 'device-code', '--client-id', publicClient, '--endpoint', server.publicUrl, '--format', 'json'],
      {},
    );
    const url = await printedUrl(cli);
    // verification_uri_complete: the server's verification endpoint with the user code.
    expect(url.startsWith(`${server.publicUrl}/oauth2/device/verify?`)).toBe(true);
    const browser = new Browser();
    const { challenge, userCode } = await openVerification(browser, url);
    expect(userCode).toBe(new URL(url).searchParams.get('user_code'));
    // The verification app accepts the code through the admin API, then login and consent follow.
    const { data } = await server.admin.oauth2.acceptUserCodeRequest({
      deviceChallenge: challenge,
      acceptDeviceUserCodeRequest: { user_code: userCode },
    });
    const { callback } = await runFlow(server, browser, data.redirect_to, { login: { subject: 'device-person' } });
    expect(callback.startsWith(SUCCESS)).toBe(true);

    const tokens = await tokensOf(cli);
    // Hydra's default scope: offline and openid, so all three tokens.
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toMatch(/^ory_rt_/);
    expect(tokens.id_token?.split('.')).toHaveLength(3);
    const { data: introspected } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected).toMatchObject({ active: true, sub: 'device-person', client_id: publicClient });
  }, 60_000);

  it('-p serves a code-entry page that accepts the typed code through the admin API (client_secret_post, table output)', async () => {
    const port = await freePort();
    const cli = new CliProcess(
      [
        'perform',
        'device-code',
        '--client-id',
        secretClient.id,
        '--client-secret',
        secretClient.secret,
        '--scope',
        'openid',
        '--endpoint',
        server.publicUrl,
        '--admin-endpoint',
        server.adminUrl,
        '-p',
        String(port),
      ],
      {},
    );
    const url = await printedUrl(cli);
    const browser = new Browser();
    const { challenge, userCode } = await openVerification(browser, url);
    // Where urls.device.verification would point: the command's page, here without the code (typed instead).
    const pageUrl = `http://127.0.0.1:${port}/device?${new URLSearchParams({ device_challenge: challenge })}`;
    const page = await browser.get(pageUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(parseForm(html, pageUrl).names).toEqual(['device_challenge', 'csrf', 'user_code']);
    // A form without the page's token is refused; with it, the code is accepted.
    expect((await submitForm(browser, { url: pageUrl, html }, { user_code: userCode }, { omit: ['csrf'] })).status).toBe(403);
    const accepted = await submitForm(browser, { url: pageUrl, html }, { user_code: userCode });
    expect(accepted.status).toBe(302);
    const next = accepted.headers.get('location') as string;
    expect(next.startsWith(`${server.publicUrl}/oauth2/device/verify?`)).toBe(true);
    const { callback } = await runFlow(server, browser, next);
    expect(callback.startsWith(SUCCESS)).toBe(true);

    const { code } = await cli.exit;
    expect(code, cli.stderr).toBe(0);
    // Hydra's table: one NAME value line per field; no refresh token without offline.
    const lines = cli.stdout.trim().split('\n');
    expect(lines.map((line) => line.split(/\s{2,}/)[0])).toEqual(['ACCESS TOKEN', 'REFRESH TOKEN', 'ID TOKEN', 'EXPIRY']);
    expect(lines[1]).toMatch(/^REFRESH TOKEN\s+<empty>$/);
    expect(lines[2]).toMatch(/^ID TOKEN\s+\S+\.\S+\.\S+$/);
  }, 60_000);

  it('fails with Hydra’s message when the device authorization request is refused, and without a client id', async () => {
    const unknown = new CliProcess(['perform', 'device-code', '--client-id', 'no-such-client', '--endpoint', server.publicUrl], {});
    expect((await unknown.exit).code).toBe(1);
    expect(unknown.stderr).toContain('Failed to perform the device authorization request: invalid_client');
    expect(unknown.stdout).toBe('');

    const missing = new CliProcess(['perform', 'device-code', '--endpoint', server.publicUrl], {});
    expect((await missing.exit).code).toBe(1);
    expect(missing.stderr).toContain('--client-id');
  }, 30_000);
});
