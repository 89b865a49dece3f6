import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess } from './support/cli.js';
import { freePort } from './support/server.js';

const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = resolve(import.meta.dirname, '../test-results/screenshots');
/** With PORTCULLIS_DOCS_SCREENSHOTS=1 the run also refreshes the screenshots in docs/. */
const DOCS = process.env.PORTCULLIS_DOCS_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../docs/screenshots') : undefined;

/**
 * The quickstart as a person meets it: the one command, then a real browser (Debian's Chromium,
 * driven by playwright-core) signs in at the demo app, refreshes, and logs out; and a device signs
 * in with the command the quickstart prints (`perform device-code`), the browser entering its code.
 */
describe.skipIf(!existsSync(CHROMIUM))('quickstart in a browser', () => {
  let quickstart: ChildProcess;
  let browser: Browser;
  let demo: string;
  let output = '';
  const pages: Page[] = [];

  beforeAll(async () => {
    const [publicPort, adminPort, uiPort, demoPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    quickstart = spawn(process.execPath, [CLI, 'quickstart', '--demo-port', String(demoPort)], {
      cwd: mkdtempSync(join(tmpdir(), 'portcullis-quickstart-')),
      env: {
        ...process.env,
        SERVE_PUBLIC_PORT: String(publicPort),
        SERVE_ADMIN_PORT: String(adminPort),
        UI_PORT: String(uiPort),
        UI_ADMIN_URL: `http://127.0.0.1:${adminPort}`,
        LOG_LEVEL: 'warn',
      },
    });
    quickstart.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    quickstart.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const started = Date.now();
    while (!/Open (http:\/\/localhost:\d+)/.test(output)) {
      if (Date.now() - started > 60_000 || quickstart.exitCode !== null) throw new Error(`quickstart did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    demo = /Open (http:\/\/localhost:\d+)/.exec(output)?.[1] as string;
    expect(Date.now() - started).toBeLessThan(60_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    quickstart?.kill('SIGTERM');
  });

  afterEach(async (context) => {
    // Each page of a failed test is kept as a screenshot (test-results/ is git-ignored).
    if (context.task.result?.state === 'fail') {
      mkdirSync(SCREENSHOTS, { recursive: true });
      for (const [index, page] of pages.entries()) {
        await page
          .screenshot({ path: join(SCREENSHOTS, `${context.task.name.replace(/\W+/g, '-')}-${index}.png`), fullPage: true })
          .catch(() => {});
      }
    }
    pages.length = 0;
  });

  async function newPage(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    pages.push(page);
    return page;
  }

  async function shoot(page: Page, name: string) {
    if (!DOCS) return;
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, `${name}.png`), fullPage: true });
  }

  async function signIn(page: Page, password = 'portcullis-demo') {
    await page.goto(demo);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Username or email').fill('demo');
    await page.getByLabel('Password').fill(password);
    await shoot(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('signs in, shows claims and userinfo, refreshes, and logs out with back-channel logout', async () => {
    const page = await newPage();
    await signIn(page);
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(await page.locator('main').textContent()).toContain('Portcullis demo app'); // the client asking
    await shoot(page, 'consent');
    await page.getByRole('button', { name: 'Allow' }).click();

    await page.locator('#id-token-claims').waitFor();
    expect(page.url().startsWith(demo)).toBe(true);
    expect(await page.locator('#id-token-claims').textContent()).toContain('demo@example.com');
    expect(await page.locator('#userinfo').textContent()).toContain('"sub"');
    await shoot(page, 'signed-in');

    const before = await page.locator('#id-token-claims').textContent();
    await page.getByRole('button', { name: 'Refresh tokens' }).click();
    await page.locator('#id-token-claims').waitFor();
    expect(await page.locator('#id-token-claims').textContent()).not.toBe(before); // a new ID token (new iat/jti)

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    for (let i = 0; i < 50 && !(await page.locator('#backchannel-notice').isVisible()); i++) {
      await new Promise((r) => setTimeout(r, 200));
      await page.goto(demo);
    }
    expect(await page.locator('#backchannel-notice').textContent()).toContain('back-channel logout');
    const events = (await (await fetch(`${demo}/events`)).json()) as unknown[];
    expect(events.length).toBeGreaterThan(0);

    // After logout, a silent sign-in cannot succeed: the error comes back to the demo.
    await page.getByRole('button', { name: 'Try silent sign-in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('login_required');
  });

  it('signs a device in with the printed perform device-code command: the browser confirms its code, signs in and consents', async () => {
    const printed = /node dist\/cli\/main\.js (perform device-code .+)$/m.exec(output)?.[1];
    expect(printed, output).toBeTruthy();
    const device = new CliProcess((printed as string).split(' '), {});
    try {
      let link: string | undefined;
      for (let i = 0; i < 200 && !link; i++) {
        link = /^To login please go to:\n\t (\S+)$/m.exec(device.stderr)?.[1];
        if (!link) await new Promise((r) => setTimeout(r, 50));
      }
      expect(link, device.stderr).toBeTruthy();
      const page = await newPage();
      await page.goto(link as string);
      await page.getByLabel('Code').waitFor();
      expect(await page.getByLabel('Code').inputValue()).toBe(new URL(link as string).searchParams.get('user_code'));
      await shoot(page, 'device-code');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Username or email').fill('demo');
      await page.getByLabel('Password').fill('portcullis-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      expect(await page.locator('main').textContent()).toContain('Portcullis demo device on a device');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();

      expect((await device.exit).code, device.stderr).toBe(0);
      expect(device.stderr).toContain('Successfully signed in!');
      // Hydra's token table: an access, a refresh (offline) and an ID token (openid).
      expect(device.stdout).toMatch(/^ACCESS TOKEN\s+ory_at_\S+$/m);
      expect(device.stdout).toMatch(/^REFRESH TOKEN\s+ory_rt_\S+$/m);
      expect(device.stdout).toMatch(/^ID TOKEN\s+\S+\.\S+\.\S+$/m);
    } finally {
      device.child.kill();
    }
  }, 60_000);

  it('shows an error for a wrong password and signs nobody in', async () => {
    const page = await newPage();
    await signIn(page, 'not-the-password');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())?.length).toBeGreaterThan(5);
    expect(page.url().startsWith(demo)).toBe(false);
    await page.goto(demo);
    expect(await page.getByRole('button', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(await page.locator('#id-token-claims').count()).toBe(0);
  });
});
