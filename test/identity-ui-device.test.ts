/**
 * A device login (RFC 8628) through the identity UI, as people meet it: the "device" is oauth4webapi
 * in the test, which asks for a device code and polls; a real browser (Debian's Chromium, driven by
 * playwright-core) opens the verification link, enters or confirms the code, signs in and consents
 * on the UI's pages, and reaches the success page; then the device's poll gets the tokens.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import { type Browser as Chromium, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqlUserStore, type User } from '../src/identity/user-store.js';
import { Browser, parseForm, submitForm } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = resolve(import.meta.dirname, '../test-results/screenshots');
const PASSWORD = 'correct horse battery staple';
const SCOPE = 'openid offline_access profile email';
const insecure = { [oauth.allowInsecureRequests]: true };

let chromiumBrowser: Chromium;
const pages: Page[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  chromiumBrowser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);
afterAll(async () => {
  await chromiumBrowser?.close();
});
afterEach(async (context) => {
  // Each page of a failed test is kept as a screenshot (test-results/ is git-ignored).
  if (context.task.result?.state === 'fail') {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [index, page] of pages.entries()) {
      await page
        .screenshot({ path: join(SCREENSHOTS, `device-${context.task.name.replace(/\W+/g, '-')}-${index}.png`), fullPage: true })
        .catch(() => {});
    }
  }
  pages.length = 0;
});

async function newPage(): Promise<Page> {
  const page = await (await chromiumBrowser.newContext()).newPage();
  pages.push(page);
  return page;
}

describe.skipIf(!existsSync(CHROMIUM)).each(STORES)('device login through the identity UI ($name)', (store) => {
  let server: TestServer;
  let ui: string;
  let alice: User;
  let as: oauth.AuthorizationServer;
  let device: oauth.Client;

  beforeAll(async () => {
    server = await startTestServer(store, { identityUi: true, env: { OAUTH2_DEVICE_AUTHORIZATION_TOKEN_POLLING_INTERVAL: '1s' } });
    ui = server.ui?.url as string;
    alice = await new SqlUserStore(server.registry.database.db).create({
      username: 'alice',
      email: 'alice@example.com',
      password: PASSWORD,
      claims: { name: 'Alice Liddell', email_verified: true },
    });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        client_name: 'Living Room TV',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        scope: SCOPE,
        token_endpoint_auth_method: 'none',
      },
    });
    device = { client_id: data.client_id as string, token_endpoint_auth_method: 'none' };
    as = {
      issuer: server.config.urls.self.issuer,
      device_authorization_endpoint: `${server.publicUrl}/oauth2/device/auth`,
      token_endpoint: `${server.publicUrl}/oauth2/token`,
    };
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  /** The device: asks for a device code (RFC 8628 §3.1). */
  async function startDevice(): Promise<oauth.DeviceAuthorizationResponse> {
    const response = await oauth.deviceAuthorizationRequest(as, device, oauth.None(), { scope: SCOPE }, insecure);
    return oauth.processDeviceAuthorizationResponse(as, device, response);
  }

  /** The device: polls the token endpoint at the interval it was given (RFC 8628 §3.4, §3.5). */
  async function poll(started: oauth.DeviceAuthorizationResponse): Promise<oauth.TokenEndpointResponse> {
    let interval = started.interval ?? 5;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, interval * 1000));
      const response = await oauth.deviceCodeGrantRequest(as, device, oauth.None(), started.device_code, insecure);
      try {
        return await oauth.processDeviceCodeResponse(as, device, response);
      } catch (error) {
        if (!(error instanceof oauth.ResponseBodyError)) throw error;
        if (error.error === 'slow_down') interval += 5;
        else if (error.error !== 'authorization_pending') throw error;
      }
    }
    throw new Error('the device was never authorized');
  }

  /** The person: signs in and consents on the UI's pages, and ends on the success page. */
  async function signInAndConsent(page: Page) {
    await page.getByLabel('Username or email').waitFor();
    expect(page.url().startsWith(`${ui}/login?`)).toBe(true);
    expect(await page.locator('main').textContent()).toContain('to connect Living Room TV on your device');
    await page.getByLabel('Username or email').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(page.url().startsWith(`${ui}/consent?`)).toBe(true);
    const consent = (await page.locator('main').textContent()) ?? '';
    expect(consent).toContain('Living Room TV wants to access your account');
    expect(consent).toContain('The request comes from Living Room TV on a device, not from this browser.');
    await page.getByRole('button', { name: 'Allow' }).click();

    await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();
    expect(page.url().startsWith(`${ui}/device/done`)).toBe(true);
    expect(await page.locator('main').textContent()).toContain('You can return to your device');
  }

  async function expectTokensFor(tokens: oauth.TokenEndpointResponse) {
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toMatch(/^ory_rt_/);
    const claims = decodeJwt(tokens.id_token as string);
    expect(claims).toMatchObject({ sub: alice.id, aud: [device.client_id], email: 'alice@example.com', name: 'Alice Liddell' });
    const { data } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(data).toMatchObject({ active: true, sub: alice.id, client_id: device.client_id });
    expect((data.scope ?? '').split(' ').sort()).toEqual(SCOPE.split(' ').sort());
  }

  it('verification_uri_complete: the code comes prefilled, the person confirms it, signs in, consents; the device gets tokens', async () => {
    const started = await startDevice();
    expect(started.verification_uri_complete).toBe(`${started.verification_uri}?user_code=${started.user_code}`);
    const polling = poll(started);
    const page = await newPage();
    await page.goto(started.verification_uri_complete as string);
    await page.getByLabel('Code').waitFor();
    expect(page.url().startsWith(`${ui}/device?`)).toBe(true);
    // Prefilled, but never submitted for the person: they check it against the device first (RFC 8628 §5.4).
    expect(await page.getByLabel('Code').inputValue()).toBe(started.user_code);
    expect(await page.locator('main').textContent()).toContain('Check that this code is the one your device shows');
    await page.getByRole('button', { name: 'Continue' }).click();
    await signInAndConsent(page);
    await expectTokensFor(await polling);
  }, 90_000);

  it('verification_uri: the person types the code shown on the device (split by a dash, as devices show it)', async () => {
    const started = await startDevice();
    const polling = poll(started);
    const page = await newPage();
    await page.goto(started.verification_uri);
    await page.getByLabel('Code').waitFor();
    expect(await page.getByLabel('Code').inputValue()).toBe('');
    expect(await page.locator('main').textContent()).toContain('Enter the code your device shows.');
    // The server's codes have no dashes (the default character set): the UI drops the one typed.
    expect(started.user_code).not.toContain('-');
    await page.getByLabel('Code').fill(` ${started.user_code.slice(0, 4)}-${started.user_code.slice(4)} `);
    await page.getByRole('button', { name: 'Continue' }).click();
    await signInAndConsent(page);
    await expectTokensFor(await polling);
  }, 90_000);

  it('a wrong code shows a friendly error on the page (not an error page), and the right one then works', async () => {
    const started = await startDevice();
    const page = await newPage();
    await page.goto(started.verification_uri);
    await page.getByLabel('Code').fill('NOT-THE-CODE');
    const [answer] = await Promise.all([
      page.waitForResponse((response) => response.url() === `${ui}/device` && response.request().method() === 'POST'),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    expect(answer.status()).toBe(422);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('That code is not right, or it has expired. Check the code your device shows and try again.');
    expect(await page.getByLabel('Code').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Code').inputValue()).toBe('NOT-THE-CODE');
    // Nothing was accepted: the device is still waiting.
    const pending = await oauth.deviceCodeGrantRequest(as, device, oauth.None(), started.device_code, insecure);
    expect(pending.status).toBe(400);
    expect(((await pending.json()) as { error: string }).error).toBe('authorization_pending');

    await page.getByLabel('Code').fill(started.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Username or email').waitFor();
    expect(page.url().startsWith(`${ui}/login?`)).toBe(true);
  }, 90_000);

  it('after the codes Portcullis allows one challenge, the page says to open the link again (429), not an error page', async () => {
    const started = await startDevice();
    const browser = new Browser();
    const reached = await browser.follow(started.verification_uri);
    expect(reached.url.startsWith(`${ui}/device?`)).toBe(true);
    const form = { url: reached.url, html: await reached.response.text() };
    const statuses: number[] = [];
    let last = '';
    for (let attempt = 0; attempt < 6; attempt++) {
      const answer = await submitForm(browser, form, { user_code: `WRONG${attempt}` });
      statuses.push(answer.status);
      last = await answer.text();
    }
    expect(statuses).toEqual([422, 422, 422, 422, 422, 429]);
    expect(last).toContain('Too many codes were tried on this page. Open the link from your device again.');
    // A fresh link (a fresh challenge) takes the right code.
    const again = await browser.follow(started.verification_uri_complete as string);
    const accepted = await submitForm(browser, { url: again.url, html: await again.response.text() }, { user_code: started.user_code });
    expect(accepted.status).toBe(302);
    expect((accepted.headers.get('location') as string).startsWith(`${server.publicUrl}/oauth2/device/verify?`)).toBe(true);
  });

  it('the code-entry page: escapes what the link carries, needs its challenge and CSRF token, and has the security headers', async () => {
    const browser = new Browser();
    const hostile = '"><script>alert(1)</script>';
    const url = `${ui}/device?${new URLSearchParams({ device_challenge: 'challenge-1', user_code: hostile })}`;
    const page = await browser.get(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toContain('<script>');
    expect(html).toContain('value="&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"');
    expect(page.headers.get('content-security-policy')).toMatch(
      /^default-src 'none'; style-src 'sha256-[^']+'; form-action \*; frame-ancestors 'none'/,
    );
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(parseForm(html, url).names).toEqual(['device_challenge', 'csrf_token', 'user_code', 'action']);

    expect((await browser.get(`${ui}/device`)).status).toBe(400);
    // Without the token, from another browser, or for another challenge: refused before Portcullis is asked.
    const form = { url, html };
    expect((await submitForm(browser, form, { user_code: 'ABCD' }, { omit: ['csrf_token'] })).status).toBe(403);
    expect((await submitForm(new Browser(), form, { user_code: 'ABCD' })).status).toBe(403);
    expect((await submitForm(browser, form, { user_code: 'ABCD', device_challenge: 'challenge-2' })).status).toBe(403);
    // With its token, an unknown challenge is explained on the error page, never a 500.
    const unknown = await submitForm(browser, form, { user_code: 'ABCD' });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('This link is not valid');

    const done = await browser.get(`${ui}/device/done?client_id=${device.client_id}`);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Your device is connected');
  });
});
