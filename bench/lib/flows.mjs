// W5: complete authorization code flows with PKCE, driven as test/support/browser.ts drives them
// (a browser with a cookie jar following redirects by hand, then the client exchanging the code),
// but lean: undici connection pools, no SDK, so that the load generator leaves the shared CPU to
// the servers. The servers differ only in how a person signs in and consents:
//   - Portcullis, as a Hydra deployment: its login and consent apps, played here through the admin API;
//   - oidc-provider: its development interactions, HTML login and consent forms posted as a browser would.
// Everything else (cookies, PKCE, the authorization request, the callback, the code exchange) is shared.
import { createHash, randomBytes } from 'node:crypto';
import { hrtime } from 'node:process';
import { Pool } from 'undici';
import { basicAuth, CLIENTS, CONSENT_URL, LOGIN_URL, REDIRECT_URI } from './servers.mjs';

const FLOW_SCOPE = 'openid offline_access';

/** A browser's cookies for one origin, with their paths (oidc-provider scopes its interaction cookies to one path). */
class CookieJar {
  /** `name path` → { name, value, path } */
  cookies = new Map();

  store(setCookie, requestPath) {
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair, ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      let path = requestPath.slice(0, Math.max(1, requestPath.lastIndexOf('/'))); // RFC 6265 5.1.4's default path
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const lower = key.trim().toLowerCase();
        const argument = rest.join('=').trim();
        if (lower === 'path' && argument.startsWith('/')) path = argument;
        else if (lower === 'max-age') expired ||= Number(argument) <= 0;
        else if (lower === 'expires') expired ||= Date.parse(argument) <= Date.now();
      }
      if (expired) this.cookies.delete(`${name} ${path}`);
      else this.cookies.set(`${name} ${path}`, { name, value, path });
    }
  }

  /** The Cookie header for a request path (RFC 6265 5.1.4's path match), or undefined when none apply. */
  header(requestPath) {
    const pairs = [];
    for (const { name, value, path } of this.cookies.values()) {
      if (requestPath === path || (requestPath.startsWith(path) && (path.endsWith('/') || requestPath[path.length] === '/'))) {
        pairs.push(`${name}=${value}`);
      }
    }
    return pairs.length > 0 ? pairs.join('; ') : undefined;
  }
}

function pathOf(url) {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

async function expectStatus(response, statuses, step) {
  if (statuses.includes(response.statusCode)) return;
  const text = await response.body.text();
  throw new Error(`${step}: HTTP ${response.statusCode} ${text.slice(0, 200)}`);
}

function expectUrl(stop, prefix, what) {
  if (stop.page !== undefined || !stop.url.startsWith(prefix)) throw new Error(`expected ${what}, got ${stop.url}`);
  return new URL(stop.url);
}

/**
 * One person's browser on one server: a cookie jar, and requests on the server's public listener
 * that follow its redirects. Each request ends where the browser stops: `{ url }` when it is sent to
 * another origin (an app, the client), `{ url, page }` when the server answers with a page.
 */
function browserOn(server, pool) {
  const jar = new CookieJar();

  async function request(url, method, form) {
    let current = url;
    let body = form === undefined ? undefined : new URLSearchParams(form).toString();
    for (let hops = 0; hops < 10; hops++) {
      if (!current.startsWith(server.publicUrl)) return { url: current };
      const path = pathOf(current);
      const headers = {};
      const cookie = jar.header(new URL(current).pathname);
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const response = await pool.request({ path, method, headers, body });
      jar.store(response.headers['set-cookie'], new URL(current).pathname);
      await expectStatus(response, [200, 302, 303], `${method} ${new URL(current).pathname}`);
      if (response.statusCode === 200) return { url: current, page: await response.body.text() };
      await response.body.dump();
      current = new URL(response.headers.location, current).toString();
      // A 302 or 303 after a POST is followed with a GET, as browsers do.
      method = 'GET';
      body = undefined;
    }
    throw new Error('too many redirects');
  }

  return {
    get: (url) => request(url, 'GET'),
    /** Submits the page's one form: its hidden fields, with `fields` filled in as a person would. */
    submit(stop, fields) {
      if (stop.page === undefined) throw new Error(`expected a page with a form, got a redirect to ${stop.url}`);
      const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(stop.page);
      if (!form) throw new Error(`no form on ${stop.url}`);
      const hidden = {};
      for (const [, input] of form[2].matchAll(/<input\b([^>]*)>/gi)) {
        const attribute = (name) => new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(input)?.[1];
        if (attribute('type') === 'hidden') hidden[attribute('name')] = attribute('value') ?? '';
      }
      return request(new URL(form[1].replace(/&amp;/g, '&'), stop.url).toString(), 'POST', { ...hidden, ...fields });
    },
    /** What the form on the page says it is for (oidc-provider: its hidden `prompt` field). */
    prompt: (stop) => /name="prompt" value="([^"]*)"/.exec(stop.page ?? '')?.[1],
  };
}

/** Portcullis (as Hydra): the login and consent apps read and accept each request through the admin API. */
function adminApiInteractions(server, connections) {
  const adminPool = new Pool(server.adminUrl, { connections, pipelining: 1 });

  async function admin(method, path, body) {
    const response = await adminPool.request({
      path,
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    await expectStatus(response, [200], `${method} ${path.split('?')[0]}`);
    return response.body.json();
  }

  async function signIn(browser, authorizeUrl, subject) {
    // The login app: reads the request, accepts it for a person.
    let stop = await browser.get(authorizeUrl);
    const loginChallenge = expectUrl(stop, LOGIN_URL, 'the login app').searchParams.get('login_challenge');
    const loginQuery = `login_challenge=${encodeURIComponent(loginChallenge)}`;
    await admin('GET', `/admin/oauth2/auth/requests/login?${loginQuery}`);
    const login = await admin('PUT', `/admin/oauth2/auth/requests/login/accept?${loginQuery}`, { subject, remember: false });

    // The consent app: grants what was asked.
    stop = await browser.get(login.redirect_to);
    const consentChallenge = expectUrl(stop, CONSENT_URL, 'the consent app').searchParams.get('consent_challenge');
    const consentQuery = `consent_challenge=${encodeURIComponent(consentChallenge)}`;
    const request = await admin('GET', `/admin/oauth2/auth/requests/consent?${consentQuery}`);
    const consent = await admin('PUT', `/admin/oauth2/auth/requests/consent/accept?${consentQuery}`, {
      grant_scope: request.requested_scope,
      grant_access_token_audience: request.requested_access_token_audience,
      remember: false,
      session: { id_token: { email: 'bench@example.com' }, access_token: { tier: 'bench' } },
    });
    return browser.get(consent.redirect_to);
  }

  return { signIn, close: () => adminPool.close() };
}

/** oidc-provider: its development login form (any login, any password), then its consent form. */
function formInteractions() {
  async function signIn(browser, authorizeUrl, subject) {
    let stop = await browser.get(authorizeUrl);
    if (browser.prompt(stop) !== 'login') throw new Error(`expected the login form at ${stop.url}`);
    stop = await browser.submit(stop, { login: subject, password: 'bench' });
    if (browser.prompt(stop) !== 'consent') throw new Error(`expected the consent form at ${stop.url}`);
    return browser.submit(stop, {});
  }

  return { signIn, close: async () => {} };
}

/**
 * Drives flows against one server (Portcullis or the peer, by its `interactions`): keep-alive
 * connection pools shared by every concurrent flow.
 */
export function flowDriver(server, { connections = 32 } = {}) {
  const publicPool = new Pool(server.publicUrl, { connections, pipelining: 1 });
  const interactions = server.interactions === 'admin-api' ? adminApiInteractions(server, connections) : formInteractions();
  const tokenAuth = basicAuth(CLIENTS.opaque);
  let serial = 0;

  /** One complete flow; returns the token response. */
  async function flow() {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(12).toString('base64url');
    const authorize = new URL(server.endpoints.authorize);
    authorize.search = new URLSearchParams({
      client_id: CLIENTS.opaque,
      response_type: 'code',
      scope: FLOW_SCOPE,
      redirect_uri: REDIRECT_URI,
      state,
      nonce: randomBytes(12).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...server.authorizeParams,
    }).toString();

    // Signed in and consented: back at the client with a code, exchanged with the PKCE verifier.
    const stop = await interactions.signIn(browserOn(server, publicPool), authorize.toString(), `user-${++serial}`);
    const callback = expectUrl(stop, REDIRECT_URI, "the client's redirect").searchParams;
    if (callback.get('state') !== state) throw new Error('the state came back changed');
    const code = callback.get('code');
    if (!code) throw new Error(`no code: ${stop.url}`);
    const response = await publicPool.request({
      path: new URL(server.endpoints.token).pathname,
      method: 'POST',
      headers: { authorization: tokenAuth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
    });
    await expectStatus(response, [200], `POST ${new URL(server.endpoints.token).pathname}`);
    const tokens = await response.body.json();
    if (!tokens.access_token || !tokens.refresh_token || !tokens.id_token) throw new Error('the token response lacks a token');
    return tokens;
  }

  /** Flows run `concurrency` at a time for `duration` seconds: completed flows/s and flow latency (ms). */
  async function measure({ concurrency, duration }) {
    const latencies = [];
    let errors = 0;
    let firstError;
    const until = Date.now() + duration * 1000;
    const started = hrtime.bigint();
    const driverCpu = process.cpuUsage();
    const worker = async () => {
      while (Date.now() < until) {
        const begin = hrtime.bigint();
        try {
          await flow();
          latencies.push(Number(hrtime.bigint() - begin) / 1e6);
        } catch (error) {
          errors++;
          firstError ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = Number(hrtime.bigint() - started) / 1e9;
    const { user, system } = process.cpuUsage(driverCpu);
    // What the driver itself (this process) spent per flow: the share of the machine the server did not get.
    const driverCpuMs = (user + system) / 1000 / Math.max(1, latencies.length);
    if (firstError) process.stderr.write(`W5 (${server.name}, ${server.store}): ${errors} failed flows, first: ${firstError.message}\n`);
    latencies.sort((a, b) => a - b);
    const at = (q) => (latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
    return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors, requests: latencies.length, driverCpuMs };
  }

  /** Refresh tokens from completed flows (for W6), `concurrency` flows at a time. */
  async function refreshTokens(count, concurrency = 16) {
    const tokens = [];
    const worker = async () => {
      while (tokens.length < count) tokens.push((await flow()).refresh_token);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return tokens.slice(0, count);
  }

  return { flow, measure, refreshTokens, close: () => Promise.all([publicPool.close(), interactions.close()]) };
}
