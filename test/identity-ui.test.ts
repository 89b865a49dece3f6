/**
 * The identity UI (src/identity) as a person meets it: a real authorization code flow through
 * Portcullis and the UI over HTTP, in a cookie-keeping browser, exchanged by openid-client. The UI
 * reaches the admin API through a recording proxy, so each test can tell exactly what it accepted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idTokenClaims } from '../src/identity/claims.js';
import { hashPassword, verifyPassword } from '../src/identity/password.js';
import { InvalidUserError, SqlUserStore, type User, UserConflictError } from '../src/identity/user-store.js';
import { Browser, parseForm, relyingParty, submitForm } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://rp.example/callback';

interface AdminCall {
  method: string;
  path: string;
  challenge: string | null;
  body: Record<string, unknown> | undefined;
}

/** Stands between the UI and the admin API, forwarding every call and recording it. */
class AdminRecorder {
  readonly calls: AdminCall[] = [];
  target = '';
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(request.url ?? '/', 'http://proxy');
        this.calls.push({
          method: request.method ?? 'GET',
          path: url.pathname,
          challenge:
            url.searchParams.get('login_challenge') ??
            url.searchParams.get('consent_challenge') ??
            url.searchParams.get('logout_challenge'),
          body: body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : undefined,
        });
        const headers: Record<string, string> = {};
        if (request.headers['content-type']) headers['content-type'] = request.headers['content-type'];
        fetch(`${this.target}${request.url}`, { method: request.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
          .then(async (answer) => {
            response.statusCode = answer.status;
            const type = answer.headers.get('content-type');
            if (type) response.setHeader('content-type', type);
            response.end(Buffer.from(await answer.arrayBuffer()));
          })
          .catch(() => {
            response.statusCode = 502;
            response.end();
          });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** The accept calls (`login`, `consent` or `logout`) made so far, optionally for one challenge. */
  accepted(kind: 'login' | 'consent' | 'logout', challenge?: string): AdminCall[] {
    return this.calls.filter(
      (call) =>
        call.method === 'PUT' && call.path === `/admin/oauth2/auth/requests/${kind}/accept` && (!challenge || call.challenge === challenge),
    );
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('passwords', () => {
  it('are hashed with scrypt into a self-describing string that verifies only the same password', async () => {
    const stored = await hashPassword(PASSWORD);
    expect(stored).toMatch(/^\$scrypt\$N=32768,r=8,p=3\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(stored).not.toContain(PASSWORD);
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
    expect(await verifyPassword(`${PASSWORD} `, stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
    // A fresh salt each time.
    expect(await hashPassword(PASSWORD)).not.toBe(stored);
    // Composed and decomposed accents are the same password.
    const composed = await hashPassword('caf\u00e9-au-lait');
    expect(await verifyPassword('cafe\u0301-au-lait', composed)).toBe(true);
  });

  it('verify with the parameters each hash carries, and refuse hashes that are malformed or too costly', async () => {
    const cheap = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
    expect(cheap.startsWith('$scrypt$N=1024,r=8,p=1$')).toBe(true);
    expect(await verifyPassword(PASSWORD, cheap)).toBe(true);
    // Changing the stored parameters changes the derived key: no match.
    expect(await verifyPassword(PASSWORD, cheap.replace('N=1024', 'N=2048'))).toBe(false);
    // N not a power of two; memory beyond the bound (N=2^20 with r=8 is 1 GiB); not a hash at all.
    expect(await verifyPassword(PASSWORD, cheap.replace('N=1024', 'N=1000'))).toBe(false);
    expect(await verifyPassword(PASSWORD, cheap.replace('N=1024', 'N=1048576'))).toBe(false);
    expect(await verifyPassword(PASSWORD, 'plaintext')).toBe(false);
    expect(await verifyPassword(PASSWORD, cheap.slice(0, -4))).toBe(false);
  });
});

describe.each(STORES)('identity UI ($name)', (store) => {
  let server: TestServer;
  let ui: string;
  let users: SqlUserStore;
  const recorder = new AdminRecorder();
  let alice: User;
  let bob: User;
  type Rp = { id: string; rp: oidc.Configuration };
  let app: Rp;
  let trusted: Rp;
  let hostile: Rp;
  /** Used only where consent is remembered (a remembered consent would skip other tests' consent pages). */
  let remembering: Rp;

  beforeAll(async () => {
    await recorder.start();
    server = await startTestServer(store, { identityUi: { adminUrl: recorder.url } });
    recorder.target = server.adminUrl;
    ui = server.ui?.url as string;
    users = new SqlUserStore(server.registry.database.db);
    alice = await users.create({
      username: 'Alice',
      email: 'Alice@Example.com',
      password: PASSWORD,
      claims: {
        name: 'Alice Liddell',
        given_name: 'Alice',
        family_name: 'Liddell',
        picture: 'https://example.com/alice.png',
        email_verified: true,
        phone_number: '+44 20 7946 0000',
        address: { street_address: '1 Rabbit Hole', locality: 'Oxford', country: 'GB' },
      },
    });
    bob = await users.create({ username: 'bob', password: 'bobs-password-1', claims: { name: 'Bob' } });
    const make = async (extra: Record<string, unknown>): Promise<Rp> => {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: {
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: [REDIRECT],
          post_logout_redirect_uris: ['https://rp.example/logged-out'],
          scope: 'openid offline_access profile email address phone calendar.read',
          ...extra,
        },
      });
      return { id: data.client_id as string, rp: relyingParty(server, data.client_id as string, data.client_secret as string) };
    };
    app = await make({
      client_name: 'Acme Notes',
      logo_uri: 'https://cdn.acme.example/logo.png',
      policy_uri: 'https://acme.example/privacy',
    });
    trusted = await make({ client_name: 'Trusted Portal', skip_consent: true, skip_logout_consent: true });
    hostile = await make({ client_name: '<script>alert("x")</script>&\'Evil\'' });
    remembering = await make({ client_name: 'Remembering App' });
  });
  afterAll(async () => {
    await server?.close();
    await recorder.close();
  });

  interface Started {
    url: string;
    response: Response;
    html: string;
    verifier: string;
    state: string;
    nonce: string;
  }

  /** Starts an authorization request and follows it to the first page the UI shows (or to the client). */
  async function authorize(browser: Browser, rp: Rp, scope: string, extra: Record<string, string> = {}): Promise<Started> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp.rp, {
      redirect_uri: REDIRECT,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    const reached = await browser.follow(url.toString());
    return { ...reached, html: reached.url.startsWith(ui) ? await reached.response.text() : '', verifier, state, nonce };
  }

  /** After a form post: follows its redirect to the next UI page, or to the client. */
  async function next(browser: Browser, from: string, answer: Response): Promise<{ url: string; response: Response; html: string }> {
    expect(answer.status, await answer.clone().text()).toBe(302);
    const reached = await browser.follow(new URL(answer.headers.get('location') as string, from).toString());
    return { ...reached, html: reached.url.startsWith(ui) ? await reached.response.text() : '' };
  }

  const challengeOf = (url: string, name: string) => new URL(url).searchParams.get(name) as string;

  async function exchange(rp: Rp, callback: string, started: Started) {
    return oidc.authorizationCodeGrant(rp.rp, new URL(callback), {
      pkceCodeVerifier: started.verifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
    });
  }

  it('signs a person in, asks consent in plain words, and the ID token carries their claims for the granted scopes', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid profile email offline_access calendar.read');
    expect(started.url.startsWith(`${ui}/login?login_challenge=`)).toBe(true);
    expect(started.response.status).toBe(200);
    expect(started.response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // An accessible form: every field has its label, the primary action comes first.
    expect(started.html).toContain('<label for="username">Username or email</label>');
    expect(started.html).toMatch(/<input id="username" name="username" type="text"[^>]*autocomplete="username"/);
    expect(started.html).toContain('<label for="password">Password</label>');
    expect(started.html).toMatch(/<input id="password" name="password" type="password"[^>]*autocomplete="current-password"/);
    expect(started.html.indexOf('value="sign_in"')).toBeLessThan(started.html.indexOf('value="cancel"'));
    expect(started.html).toContain('to continue to <strong>Acme Notes</strong>');
    const form = parseForm(started.html, started.url);
    expect(form.method).toBe('post');
    expect(form.action).toBe(`${ui}/login`);
    expect(Object.keys(form.hidden).sort()).toEqual(['csrf_token', 'login_challenge']);
    expect(form.hidden.login_challenge).toBe(challengeOf(started.url, 'login_challenge'));
    expect(form.names).toEqual(['login_challenge', 'csrf_token', 'username', 'password', 'remember', 'action', 'action']);

    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'alice', password: PASSWORD, action: 'sign_in' }),
    );
    expect(consent.url.startsWith(`${ui}/consent?consent_challenge=`)).toBe(true);
    expect(consent.response.status).toBe(200);
    const [login] = recorder.accepted('login', challengeOf(started.url, 'login_challenge'));
    expect(login?.body).toEqual({ subject: alice.id, remember: false, amr: ['pwd'] });
    // The consent page: who asks, for whom, what each scope means.
    expect(consent.html).toContain('<span>Acme Notes</span> wants to access your account');
    expect(consent.html).toContain('Signed in as <strong>alice</strong> (alice@example.com)');
    expect(consent.html).toContain('<strong>Confirm who you are</strong>');
    expect(consent.html).toContain(
      '<strong>See your profile</strong><span>Your name, username, picture and other basic profile details.</span>',
    );
    expect(consent.html).toContain('<strong>See your email address</strong>');
    expect(consent.html).toContain('<strong>Stay connected</strong>');
    expect(consent.html).toContain('<strong>Use the permission <code>calendar.read</code></strong>');
    expect(consent.html).not.toContain('See your postal address');
    expect(consent.html).toContain('<a href="https://acme.example/privacy">privacy policy</a>');
    expect(consent.html).toContain('<img src="https://cdn.acme.example/logo.png" alt=""');
    expect(consent.response.headers.get('content-security-policy')).toContain('img-src https://cdn.acme.example');

    const back = await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow' }));
    expect(back.url.startsWith(`${REDIRECT}?code=`)).toBe(true);
    const [accepted] = recorder.accepted('consent', challengeOf(consent.url, 'consent_challenge'));
    expect(accepted?.body).toMatchObject({
      grant_scope: ['openid', 'profile', 'email', 'offline_access', 'calendar.read'],
      remember: false,
      session: { access_token: {} },
    });

    const tokens = await exchange(app, back.url, started);
    expect(tokens.scope).toBe('openid profile email offline_access calendar.read');
    expect(tokens.refresh_token).toBeDefined();
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      sub: alice.id,
      amr: ['pwd'],
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      preferred_username: 'alice',
      picture: 'https://example.com/alice.png',
      updated_at: Math.floor(alice.updatedAt.getTime() / 1000),
      email: 'alice@example.com',
      email_verified: true,
    });
    // Not granted: no address, no phone.
    expect(claims).not.toHaveProperty('address');
    expect(claims).not.toHaveProperty('phone_number');
  });

  it('releases only the claims of the granted scopes: email without profile, address and phone', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid email address phone');
    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'alice@example.com', password: PASSWORD, action: 'sign_in' }),
    );
    expect(consent.html).toContain('See your postal address');
    expect(consent.html).toContain('See your phone number');
    expect(consent.html).not.toContain('See your profile');
    const back = await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow' }));
    const claims = (await exchange(app, back.url, started)).claims();
    expect(claims).toMatchObject({
      sub: alice.id,
      email: 'alice@example.com',
      email_verified: true,
      address: { street_address: '1 Rabbit Hole', locality: 'Oxford', country: 'GB' },
      phone_number: '+44 20 7946 0000',
      phone_number_verified: false,
    });
    for (const name of ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'updated_at'])
      expect(claims).not.toHaveProperty(name);

    // Bob has no email: the email scope then adds nothing, not an empty claim.
    expect(idTokenClaims(bob, ['openid', 'email', 'profile'])).toEqual({
      name: 'Bob',
      preferred_username: 'bob',
      updated_at: Math.floor(bob.updatedAt.getTime() / 1000),
    });
  });

  it('shows the form again with an error after a wrong password or an unknown user, and accepts no login', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid');
    const challenge = challengeOf(started.url, 'login_challenge');
    const wrong = await submitForm(browser, started, { username: 'alice', password: 'not the password', action: 'sign_in' });
    expect(wrong.status).toBe(422);
    expect(wrong.headers.get('location')).toBeNull();
    const page = await wrong.text();
    expect(page).toContain('<p class="alert" role="alert" id="login-error">The username or password is incorrect.</p>');
    expect(page).toMatch(/<input id="username"[^>]*value="alice"[^>]*aria-invalid="true" aria-describedby="login-error">/);
    // The username is kept, so the focus goes to the password.
    expect(page).toMatch(/<input id="password"[^>]*aria-describedby="login-error" autofocus>/);
    expect(page).not.toContain('not the password');

    const unknown = await submitForm(
      browser,
      { url: started.url, html: page },
      { username: 'nobody', password: PASSWORD, action: 'sign_in' },
    );
    expect(unknown.status).toBe(422);
    expect(await unknown.text()).toContain('The username or password is incorrect.');
    const empty = await submitForm(browser, { url: started.url, html: page }, { username: 'alice', password: '', action: 'sign_in' });
    expect(empty.status).toBe(422);
    expect(recorder.accepted('login', challenge)).toEqual([]);

    // The request is still open: the right password now completes it.
    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, { url: started.url, html: page }, { username: 'ALICE', password: PASSWORD, action: 'sign_in' }),
    );
    expect(consent.url.startsWith(`${ui}/consent`)).toBe(true);
    expect(recorder.accepted('login', challenge)).toHaveLength(1);
    // The passwords tried never reach a log line.
    expect(server.logs.some((line) => line.includes('not the password') || line.includes(PASSWORD))).toBe(false);
    expect(server.logs.some((line) => line.includes('sign-in refused'))).toBe(true);
  });

  it('takes as long for an unknown username as for a wrong password', async () => {
    const time = async (login: string) => {
      const start = performance.now();
      expect(await users.authenticate(login, 'wrong password')).toBeUndefined();
      return performance.now() - start;
    };
    await time('nobody');
    // Interleaved, so that load from other test files running at the same time falls on both alike.
    const knownTimes: number[] = [];
    const unknownTimes: number[] = [];
    for (const login of ['nobody', 'nobody@example.com', 'nobody', 'somebody', 'nobody']) {
      knownTimes.push(await time('alice'));
      unknownTimes.push(await time(login));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[2] as number;
    const [known, unknown] = [median(knownTimes), median(unknownTimes)];
    // Without the dummy verification an unknown user answers in about a millisecond, a known one in hundreds.
    expect(unknown).toBeGreaterThan(known * 0.4);
    expect(unknown).toBeGreaterThan(20);
    expect(known).toBeGreaterThan(20);
  });

  it('remember me: the next authorization in the same browser skips the sign-in form, and a remembered consent skips the page', async () => {
    const browser = new Browser();
    const first = await authorize(browser, remembering, 'openid email');
    const consent = await next(
      browser,
      first.url,
      await submitForm(browser, first, { username: 'alice', password: PASSWORD, remember: '1', action: 'sign_in' }),
    );
    const [login] = recorder.accepted('login', challengeOf(first.url, 'login_challenge'));
    expect(login?.body).toEqual({ subject: alice.id, remember: true, remember_for: 720 * 3600, amr: ['pwd'] });
    const back = await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow', remember: '1' }));
    const firstClaims = (await exchange(remembering, back.url, first)).claims();

    // Straight through: the UI accepts the remembered login and consent without showing a page.
    const again = await authorize(browser, remembering, 'openid email');
    expect(again.url.startsWith(`${REDIRECT}?code=`)).toBe(true);
    const claims = (await exchange(remembering, again.url, again)).claims();
    expect(claims?.sub).toBe(alice.id);
    expect(claims?.email).toBe('alice@example.com');
    expect(claims?.auth_time).toBe(firstClaims?.auth_time);
    const skipped = recorder.calls.filter((call) => call.path.endsWith('/login/accept')).at(-1);
    expect(skipped?.body).toEqual({ subject: alice.id });

    // Another browser is asked to sign in.
    const other = await authorize(new Browser(), remembering, 'openid email');
    expect(other.url.startsWith(`${ui}/login`)).toBe(true);
    expect(other.html).toContain('<h1>Sign in</h1>');
  });

  it('without "remember me", the next authorization asks to sign in again', async () => {
    const browser = new Browser();
    const first = await authorize(browser, app, 'openid');
    const consent = await next(
      browser,
      first.url,
      await submitForm(browser, first, { username: 'bob', password: 'bobs-password-1', action: 'sign_in' }),
    );
    await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow' }));
    const again = await authorize(browser, app, 'openid');
    expect(again.url.startsWith(`${ui}/login`)).toBe(true);
    expect(again.html).toContain('<h1>Sign in</h1>');
  });

  it('refuses forms without a valid CSRF token (missing, from another browser, made for another challenge) and accepts nothing', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid');
    const challenge = challengeOf(started.url, 'login_challenge');
    const credentials = { username: 'alice', password: PASSWORD, action: 'sign_in' };

    const missing = await submitForm(browser, started, credentials, { omit: ['csrf_token'] });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain('This form has expired');
    const forged = await submitForm(browser, started, { ...credentials, csrf_token: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(forged.status).toBe(403);
    // The attacker's browser has the form's token but not the victim's cookie.
    const attacker = new Browser();
    expect((await submitForm(attacker, started, credentials)).status).toBe(403);
    // A token made for one challenge does not fit another, even for the same browser's cookie.
    const sameCookie = new Browser();
    for (const [name, value] of browser.cookies) if (name.includes('portcullis_ui_csrf')) sameCookie.cookies.set(name, value);
    expect(sameCookie.cookies.size).toBe(1);
    const second = await authorize(sameCookie, app, 'openid');
    const swapped = await submitForm(browser, started, {
      ...credentials,
      csrf_token: parseForm(second.html, second.url).hidden.csrf_token as string,
    });
    expect(swapped.status).toBe(403);
    // A post a browser marks as cross-site is refused even with the right token.
    const crossSite = await browser.get(`${ui}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ ...parseForm(started.html, started.url).hidden, ...credentials }).toString(),
    });
    expect(crossSite.status).toBe(403);
    expect(recorder.accepted('login', challenge)).toEqual([]);

    // Consent and logout forms are guarded the same way.
    const consent = await next(browser, started.url, await submitForm(browser, started, credentials));
    const consentChallenge = challengeOf(consent.url, 'consent_challenge');
    expect((await submitForm(browser, consent, { action: 'allow' }, { omit: ['csrf_token'] })).status).toBe(403);
    expect((await submitForm(attacker, consent, { action: 'allow' })).status).toBe(403);
    expect(recorder.accepted('consent', consentChallenge)).toEqual([]);
    const done = await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow' }));
    expect(done.url.startsWith(`${REDIRECT}?code=`)).toBe(true);
  });

  it('cancel at sign-in and deny at consent reach the client as access_denied', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid');
    // Cancel needs no credentials (the button skips the browser's required-field checks).
    expect(started.html).toMatch(/value="cancel" formnovalidate/);
    const cancelled = await next(browser, started.url, await submitForm(browser, started, { action: 'cancel' }));
    const error = new URL(cancelled.url);
    expect(error.origin + error.pathname).toBe(REDIRECT);
    expect(error.searchParams.get('error')).toBe('access_denied');
    expect(error.searchParams.get('state')).toBe(started.state);
    expect(recorder.accepted('login', challengeOf(started.url, 'login_challenge'))).toEqual([]);

    const again = await authorize(browser, app, 'openid');
    const consent = await next(
      browser,
      again.url,
      await submitForm(browser, again, { username: 'alice', password: PASSWORD, action: 'sign_in' }),
    );
    const denied = await next(browser, consent.url, await submitForm(browser, consent, { action: 'deny' }));
    expect(new URL(denied.url).searchParams.get('error')).toBe('access_denied');
    expect(recorder.accepted('consent', challengeOf(consent.url, 'consent_challenge'))).toEqual([]);
  });

  it('grants a skip_consent client without the consent page, with the claims of the requested scopes', async () => {
    const browser = new Browser();
    const started = await authorize(browser, trusted, 'openid profile');
    expect(started.html).toContain('to continue to <strong>Trusted Portal</strong>');
    const back = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'bob', password: 'bobs-password-1', action: 'sign_in' }),
    );
    expect(back.url.startsWith(`${REDIRECT}?code=`)).toBe(true);
    const claims = (await exchange(trusted, back.url, started)).claims();
    expect(claims).toMatchObject({ sub: bob.id, name: 'Bob', preferred_username: 'bob' });
    expect(recorder.accepted('consent').at(-1)?.body).toMatchObject({ grant_scope: ['openid', 'profile'], remember: false });
  });

  it('escapes a hostile client name on the sign-in and consent pages, and hostile text on the error page', async () => {
    const browser = new Browser();
    const started = await authorize(browser, hostile, 'openid');
    expect(started.html).not.toContain('<script');
    expect(started.html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;Evil&#39;');
    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'alice', password: PASSWORD, action: 'sign_in' }),
    );
    expect(consent.html).not.toContain('<script');
    expect(consent.html).toContain(
      '<span>&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;Evil&#39;</span> wants to access your account',
    );
    // No logo: the initial, escaped.
    expect(consent.html).toContain('<span class="initial" aria-hidden="true">&#60;</span>');

    const error = await fetch(
      `${ui}/error?${new URLSearchParams({ error: '"><img src=x onerror=alert(1)>', error_description: '<b>bold</b> & "quoted"' })}`,
    );
    expect(error.status).toBe(200);
    const page = await error.text();
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>');
    expect(page).toContain('&#60;b&#62;bold&#60;/b&#62; &#38; &#34;quoted&#34;');
    expect(page).toContain('<code>&#34;&#62;&#60;img src=x onerror=alert(1)&#62;</code>');

    const denied = await fetch(`${ui}/error?error=access_denied&error_description=The+user+said+no.`);
    const text = await denied.text();
    expect(text).toContain('<h1>Access was denied</h1>');
    expect(text).toContain('The user said no.');
  });

  it('serves every page with the security headers and no script', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid');
    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'alice', password: PASSWORD, action: 'sign_in' }),
    );
    const pages: Array<[string, Response, string]> = [
      ['login', started.response, started.html],
      ['consent', consent.response, consent.html],
    ];
    for (const path of ['/', '/error?error=x', '/login', '/login?login_challenge=nonsense', '/logout/cancelled', '/no-such-page']) {
      const response = await fetch(`${ui}${path}`);
      pages.push([path, response, await response.text()]);
    }
    const wrong = await submitForm(browser, consent, { action: 'allow' }, { omit: ['csrf_token'] });
    pages.push(['csrf refusal', wrong, await wrong.text()]);
    for (const [name, response, html] of pages) {
      expect(response.headers.get('content-type'), name).toBe('text/html; charset=utf-8');
      expect(response.headers.get('x-frame-options'), name).toBe('DENY');
      expect(response.headers.get('cache-control'), name).toBe('no-store');
      expect(response.headers.get('referrer-policy'), name).toBe('no-referrer');
      expect(response.headers.get('x-content-type-options'), name).toBe('nosniff');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, name).toContain("default-src 'none'");
      expect(csp, name).toContain("frame-ancestors 'none'");
      expect(csp, name).not.toContain('script-src');
      expect(csp, name).not.toContain('unsafe-inline');
      expect(html, name).not.toMatch(/<script|\son[a-z]+=/i);
      expect(html, name).toMatch(/^<!doctype html>\n<html lang="en">/);
      // The stylesheet is allowed by its hash: it is the page's only inline content.
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
      const { createHash } = await import('node:crypto');
      expect(csp, name).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
      // No secret leaks into a page.
      expect(html, name).not.toContain(server.config.secrets.system[0]);
    }
    const statuses = Object.fromEntries(pages.map(([name, response]) => [name, response.status]));
    expect(statuses).toMatchObject({
      '/': 200,
      '/login': 400,
      '/login?login_challenge=nonsense': 404,
      '/logout/cancelled': 200,
      '/no-such-page': 404,
      'csrf refusal': 403,
    });
  });

  it('sends a browser with an already-used challenge back to the authorization request, and explains an unknown one', async () => {
    const browser = new Browser();
    const started = await authorize(browser, app, 'openid');
    const consent = await next(
      browser,
      started.url,
      await submitForm(browser, started, { username: 'alice', password: PASSWORD, action: 'sign_in' }),
    );
    await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow' }));
    // The flow completed: opening its consent page again sends the browser to restart it.
    const replay = await browser.get(consent.url);
    expect(replay.status).toBe(302);
    expect(replay.headers.get('location')?.startsWith(`${server.publicUrl}/oauth2/auth?`)).toBe(true);

    const unknown = await fetch(`${ui}/consent?consent_challenge=${'x'.repeat(40)}`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('This link is not valid');
  });

  it('logout: confirms, ends the session and returns to the client; "no" keeps the session; skip_logout_consent does not ask', async () => {
    const browser = new Browser();
    const signIn = async (rp: Rp) => {
      const started = await authorize(browser, rp, 'openid');
      if (started.url.startsWith(REDIRECT)) return exchange(rp, started.url, started);
      const consent = await next(
        browser,
        started.url,
        await submitForm(browser, started, { username: 'alice', password: PASSWORD, remember: '1', action: 'sign_in' }),
      );
      const back = consent.url.startsWith(REDIRECT)
        ? consent
        : await next(browser, consent.url, await submitForm(browser, consent, { action: 'allow', remember: '1' }));
      return exchange(rp, back.url, started);
    };
    const endSession = (rp: Rp, idToken: string) => {
      const url = new URL(`${server.publicUrl}/oauth2/sessions/logout`);
      url.searchParams.set('id_token_hint', idToken);
      url.searchParams.set('post_logout_redirect_uri', 'https://rp.example/logged-out');
      url.searchParams.set('state', 'bye');
      void rp;
      return url.toString();
    };

    const tokens = await signIn(remembering);
    const sid = decodeJwt(tokens.id_token as string).sid;
    const asked = await browser.follow(endSession(remembering, tokens.id_token as string));
    expect(asked.url.startsWith(`${ui}/logout?logout_challenge=`)).toBe(true);
    const page = { url: asked.url, html: await asked.response.text() };
    expect(page.html).toContain('<h1>Sign out?</h1>');
    expect(page.html).toContain('<strong>Remembering App</strong> asked to sign you out.');

    // "No": the logout request is rejected and the person stays signed in.
    const stayed = await next(browser, page.url, await submitForm(browser, page, { action: 'stay' }));
    expect(stayed.url).toBe(`${ui}/logout/cancelled`);
    expect(stayed.html).toContain('<h1>You are still signed in</h1>');
    expect(recorder.calls.at(-1)).toMatchObject({ method: 'PUT', path: '/admin/oauth2/auth/requests/logout/reject' });
    expect(recorder.accepted('logout')).toEqual([]);
    const silent = await authorize(browser, remembering, 'openid', { prompt: 'none' });
    expect(new URL(silent.url).searchParams.get('code')).toBeTruthy();

    // "Yes": the session ends and the browser lands on the client's post-logout URI.
    const again = await browser.follow(endSession(remembering, tokens.id_token as string));
    const confirm = { url: again.url, html: await again.response.text() };
    expect((await submitForm(new Browser(), confirm, { action: 'sign_out' })).status).toBe(403);
    const out = await next(browser, confirm.url, await submitForm(browser, confirm, { action: 'sign_out' }));
    expect(out.url).toBe('https://rp.example/logged-out?state=bye');
    expect(recorder.accepted('logout', challengeOf(confirm.url, 'logout_challenge'))).toHaveLength(1);
    expect((await server.registry.sessions.findLoginSession(sid as string)) ?? undefined).toBeUndefined();
    const afterwards = await authorize(browser, remembering, 'openid', { prompt: 'none' });
    expect(new URL(afterwards.url).searchParams.get('error')).toBe('login_required');

    // A client allowed to skip the confirmation: straight through.
    const trustedTokens = await signIn(trusted);
    const skipped = await browser.follow(endSession(trusted, trustedTokens.id_token as string));
    expect(skipped.url).toBe('https://rp.example/logged-out?state=bye');
  });

  it('stores users behind a narrow interface: normalised, unique, validated, found by username, email or id, deleted', async () => {
    expect(alice.username).toBe('alice');
    expect(alice.email).toBe('alice@example.com');
    expect(alice.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect((await users.findByLogin('ALICE@example.COM'))?.id).toBe(alice.id);
    expect((await users.findByLogin(' Alice '))?.id).toBe(alice.id);
    expect((await users.findById(alice.id))?.claims.address).toEqual({
      street_address: '1 Rabbit Hole',
      locality: 'Oxford',
      country: 'GB',
    });
    expect(await users.findByLogin('nobody')).toBeUndefined();
    expect((await users.authenticate('alice@example.com', PASSWORD))?.id).toBe(alice.id);

    await expect(users.create({ username: 'ALICE', password: 'another-password' })).rejects.toThrow(UserConflictError);
    await expect(users.create({ username: 'alice2', email: 'alice@EXAMPLE.com', password: 'another-password' })).rejects.toThrow(
      /email "alice@example.com" belongs to another user/,
    );
    await expect(users.create({ username: 'has space', password: 'another-password' })).rejects.toThrow(InvalidUserError);
    await expect(users.create({ username: 'at@sign', password: 'another-password' })).rejects.toThrow(InvalidUserError);
    await expect(users.create({ username: 'carol', password: 'short' })).rejects.toThrow(/at least 8 characters/);
    await expect(users.create({ username: 'carol', email: 'not-an-email', password: 'long enough' })).rejects.toThrow(InvalidUserError);
    await expect(users.create({ username: 'carol', password: 'long enough', claims: { role: 'admin' } as never })).rejects.toThrow(
      /role is not a standard claim/,
    );
    await expect(users.create({ username: 'carol', password: 'long enough', claims: { email_verified: 'yes' } as never })).rejects.toThrow(
      /email_verified must be true or false/,
    );

    // Several users without email are fine (the unique index ignores NULLs).
    const carol = await users.create({ username: 'carol', password: 'long enough' });
    const dave = await users.create({ username: 'dave', password: 'long enough', email: '' });
    expect(carol.email).toBeUndefined();
    expect(dave.email).toBeUndefined();
    expect((await users.list()).map((u) => u.username)).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(await users.delete(carol.id)).toBe(true);
    expect(await users.delete(carol.id)).toBe(false);
    expect(await users.delete(dave.id)).toBe(true);
    expect(await users.findById(carol.id)).toBeUndefined();
    expect((await users.list()).map((u) => u.username)).toEqual(['alice', 'bob']);

    // The hash is stored, never the password.
    const row = await server.registry.database.db.selectFrom('users').selectAll().where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(row.password_hash.startsWith('$scrypt$')).toBe(true);
    expect(JSON.stringify(row)).not.toContain(PASSWORD);
  });

  it('answers /health', async () => {
    const response = await fetch(`${ui}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
