/**
 * Issue 12 #14, sign-in throttling in the identity UI: per account and per address, with a backoff
 * that grows, caps and decays; an unknown username looks and costs the same as a wrong password; and
 * password checks are bounded. Driven over HTTP from several loopback addresses (each its own
 * "address" to the UI), on both stores.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../src/identity/throttle.js';
import { SqlUserStore } from '../src/identity/user-store.js';
import { admin } from './support/http-flow.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(url: string, from: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: from }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += String(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

/** A login form as a browser at `from` holds it: its challenge, CSRF cookie and token. */
interface Form {
  from: string;
  challenge: string;
  cookie: string;
  csrf: string;
}

/** What a person sees after posting: the status, Retry-After, and the page's alert text. */
interface Outcome {
  status: number;
  retryAfter: number | undefined;
  alert: string;
}

const alertOf = (html: string) => /<p class="alert" role="alert" id="login-error">([^<]*)<\/p>/.exec(html)?.[1] ?? '';

describe.each(STORES)('issue 12 #14: sign-in throttling in the identity UI ($name)', (store) => {
  let server: TestServer;
  let clientId: string;

  /** The UI of `on`, with a fresh login challenge for a browser at `from`. */
  async function form(on: TestServer, from: string): Promise<Form> {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: 'https://rp.example/cb',
      scope: 'openid',
      state: 'state-of-the-flow',
    });
    const started = await send(`${on.publicUrl}/oauth2/auth?${query}`, from);
    const loginUrl = started.headers.location as string;
    const page = await send(loginUrl, from);
    const cookie = String(page.headers['set-cookie']).split(';')[0] as string;
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page.text)?.[1] as string;
    return { from, challenge: new URL(loginUrl).searchParams.get('login_challenge') as string, cookie, csrf };
  }

  async function signIn(on: TestServer, at: Form, username: string, password: string): Promise<Outcome> {
    const answer = await send(`${on.ui?.url}/login`, at.from, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: at.cookie },
      body: new URLSearchParams({ login_challenge: at.challenge, csrf_token: at.csrf, username, password, action: 'sign_in' }).toString(),
    });
    const retryAfter = answer.headers['retry-after'];
    return { status: answer.status, retryAfter: retryAfter === undefined ? undefined : Number(retryAfter), alert: alertOf(answer.text) };
  }

  const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 50));

  async function start(env: Record<string, string>, dsn?: string): Promise<TestServer> {
    const started = await startTestServer(store, { identityUi: true, env, ...(dsn ? { dsn } : {}) });
    return started;
  }

  beforeAll(async () => {
    server = await start({
      UI_LOGIN_THROTTLE_ACCOUNT_FREE_ATTEMPTS: '3',
      UI_LOGIN_THROTTLE_ADDRESS_FREE_ATTEMPTS: '6',
      UI_LOGIN_THROTTLE_BASE_DELAY: '1s',
      UI_LOGIN_THROTTLE_MAX_DELAY: '2s',
      UI_LOGIN_THROTTLE_DECAY: '1h',
    });
    const users = new SqlUserStore(server.registry.database.db);
    for (const username of ['alice', 'carol']) await users.create({ username, password: PASSWORD });
    const created = await admin(server, 'POST', '/admin/clients', {
      redirect_uris: ['https://rp.example/cb'],
      scope: 'openid',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
    clientId = created.body.client_id as string;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issue 12 #14: an account is locked after its free attempts, a wrong username exactly like a real one, and the right password waits too', async () => {
    const sequence = async (username: string, from: string) => {
      const at = await form(server, from);
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 4; i++) outcomes.push(await signIn(server, at, username, 'a wrong guess'));
      // Locked now: a fifth guess, and even the right password, are refused unchecked, from any address.
      outcomes.push(await signIn(server, at, username, 'a wrong guess'));
      outcomes.push(await signIn(server, await form(server, '127.0.2.99'), username, PASSWORD));
      return outcomes;
    };
    const real = await sequence('alice', '127.0.2.1');
    const unknown = await sequence('nobody', '127.0.2.2');
    expect(real.map((o) => o.status)).toEqual([422, 422, 422, 422, 429, 429]);
    expect(real.slice(0, 4).every((o) => o.alert === 'The username or password is incorrect.' && o.retryAfter === undefined)).toBe(true);
    expect(real[4]).toEqual({ status: 429, retryAfter: 1, alert: 'Too many failed attempts. Try again in 1 second.' });
    // A username nobody has is counted, locked and answered the same, word for word.
    expect(unknown).toEqual(real);

    // The lock ends: the right password signs in, and the account starts afresh.
    await sleep(1);
    const signedIn = await signIn(server, await form(server, '127.0.2.1'), 'alice', PASSWORD);
    expect(signedIn.status).toBe(302);
    expect((await signIn(server, await form(server, '127.0.2.1'), 'alice', 'a wrong guess')).status).toBe(422);
    // Fourteen sign-ins with deliberately slow password hashing (scrypt): minutes on a busy machine.
  }, 120_000);

  it('issue 12 #14: each further failure doubles the lock, up to the cap, and refusals do not extend it', async () => {
    const at = await form(server, '127.0.3.1');
    for (let i = 0; i < 4; i++) expect((await signIn(server, at, 'carol', 'a wrong guess')).status).toBe(422);
    const locks: Array<number | undefined> = [];
    for (let round = 0; round < 3; round++) {
      const refused = await signIn(server, at, 'carol', 'a wrong guess');
      expect(refused.status).toBe(429);
      locks.push(refused.retryAfter);
      // Hammering while locked neither gets checked nor makes the lock longer.
      for (let i = 0; i < 5; i++)
        expect((await signIn(server, at, 'carol', PASSWORD)).retryAfter).toBeLessThanOrEqual(refused.retryAfter ?? 0);
      await sleep(refused.retryAfter ?? 0);
      expect((await signIn(server, at, 'carol', 'a wrong guess')).status).toBe(422);
    }
    // 1 s after the 4th failure, then 2 s (doubled), then 2 s again (the cap).
    expect(locks).toEqual([1, 2, 2]);
  });

  it('issue 12 #14: an address is locked after its free attempts, whichever usernames it tries', async () => {
    const at = await form(server, '127.0.4.1');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await signIn(server, at, `someone-${i}`, 'a wrong guess')).status);
    // 6 free, the 7th locks the address (each of these accounts failed only once).
    expect(statuses).toEqual([422, 422, 422, 422, 422, 422, 422, 429]);
    // Another address is not affected.
    expect((await signIn(server, await form(server, '127.0.4.2'), 'someone-9', 'a wrong guess')).status).toBe(422);
  });

  it('issue 12 #14: password checks are bounded: beyond the running and waiting ones a sign-in is answered busy at once', async () => {
    const bounded = await start({ UI_LOGIN_MAX_CONCURRENT_HASHES: '1', UI_LOGIN_MAX_QUEUED_HASHES: '1' }, server.config.dsn);
    try {
      const forms = await Promise.all(Array.from({ length: 10 }, (_, i) => form(bounded, `127.0.5.${i + 1}`)));
      const outcomes = await Promise.all(forms.map((at, i) => signIn(bounded, at, `guess-${i}`, 'a wrong guess')));
      const checked = outcomes.filter((o) => o.status === 422).length;
      const busy = outcomes.filter((o) => o.status === 503);
      expect(checked + busy.length).toBe(10);
      // One check runs and one waits while the others arrive (a check takes about 100 ms of scrypt).
      expect(busy.length).toBeGreaterThanOrEqual(4);
      expect(busy[0]).toEqual({ status: 503, retryAfter: 1, alert: 'Signing in is busy right now. Try again in a moment.' });
      // Busy answers are not failures: the same people may sign in at once.
      expect((await signIn(bounded, forms[0] as Form, 'alice', PASSWORD)).status).toBe(302);
    } finally {
      await bounded.close();
    }
  });
});

describe('issue 12 #14: the sign-in throttle forgets', () => {
  it('issue 12 #14: failures decay one per decay period, so locks shrink back once the guessing stops', () => {
    let now = 0;
    const throttle = new SignInThrottle(
      {
        accountFreeAttempts: 2,
        addressFreeAttempts: 1000,
        baseDelayMs: 1000,
        maxDelayMs: 60_000,
        decayMs: 10_000,
        maxEntries: 100,
        maxConcurrentHashes: 1,
        maxQueuedHashes: 0,
      },
      () => now,
    );
    const keys = { account: 'alice', address: '192.0.2.1' };
    // 100 failures (an attack): the lock is capped at 60 s.
    for (let i = 0; i < 100; i++) {
      throttle.failed(keys);
      now += 1;
    }
    expect(throttle.retryAfter(keys)).toBe(60);
    now += 60_000;
    expect(throttle.retryAfter(keys)).toBe(0);
    // 100 failures' worth of decay later, one more failure is within the free allowance again.
    now += 100 * 10_000;
    throttle.failed(keys);
    expect(throttle.retryAfter(keys)).toBe(0);
  });
});
