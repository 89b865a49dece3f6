// W5: complete authorization code flows with PKCE against Portcullis, driven as
// test/support/browser.ts drives them (a browser with a cookie jar following redirects by hand,
// the login and consent apps played through the admin API), but lean: undici connection pools,
// no SDK, so that the load generator leaves the shared CPU to the server.
import { createHash, randomBytes } from 'node:crypto';
import { hrtime } from 'node:process';
import { Pool } from 'undici';
import { basicAuth, CLIENTS, CONSENT_URL, LOGIN_URL, REDIRECT_URI } from './servers.mjs';

const FLOW_SCOPE = 'openid offline_access';

/** A browser's cookies for one origin: set from Set-Cookie, sent back as one Cookie header. */
class CookieJar {
  cookies = new Map();

  store(setCookie) {
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair, ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (value === '' || attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
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

/**
 * Drives flows against one Portcullis: `pools` hold the keep-alive connections (public and admin)
 * shared by every concurrent flow.
 */
export function flowDriver(server, { connections = 32 } = {}) {
  const publicPool = new Pool(server.publicUrl, { connections, pipelining: 1 });
  const adminPool = new Pool(server.adminUrl, { connections, pipelining: 1 });
  const tokenAuth = basicAuth(CLIENTS.opaque);
  let serial = 0;

  /** The browser's GETs on the public listener until it is sent elsewhere (an app or the client). */
  async function browse(jar, url) {
    let current = url;
    for (let hops = 0; hops < 10; hops++) {
      if (!current.startsWith(server.publicUrl)) return current;
      const cookie = jar.header();
      const response = await publicPool.request({ path: pathOf(current), method: 'GET', headers: cookie ? { cookie } : {} });
      jar.store(response.headers['set-cookie']);
      await expectStatus(response, [302, 303], `GET ${new URL(current).pathname}`);
      await response.body.dump();
      current = new URL(response.headers.location, current).toString();
    }
    throw new Error('too many redirects');
  }

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

  /** One complete flow; returns the token response. */
  async function flow() {
    const jar = new CookieJar();
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const state = randomBytes(12).toString('base64url');
    const authorize = new URL(server.endpoints.authorize);
    authorize.search = new URLSearchParams({
      client_id: CLIENTS.opaque,
      response_type: 'code',
      scope: FLOW_SCOPE,
      redirect_uri: REDIRECT_URI,
      state,
      nonce: randomBytes(12).toString('base64url'),
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();

    // The login app: reads the request, accepts it for a person.
    let url = await browse(jar, authorize.toString());
    if (!url.startsWith(LOGIN_URL)) throw new Error(`expected the login app, got ${url}`);
    const loginChallenge = new URL(url).searchParams.get('login_challenge');
    const loginQuery = `login_challenge=${encodeURIComponent(loginChallenge)}`;
    await admin('GET', `/admin/oauth2/auth/requests/login?${loginQuery}`);
    const login = await admin('PUT', `/admin/oauth2/auth/requests/login/accept?${loginQuery}`, {
      subject: `user-${++serial}`,
      remember: false,
    });

    // The consent app: grants what was asked.
    url = await browse(jar, login.redirect_to);
    if (!url.startsWith(CONSENT_URL)) throw new Error(`expected the consent app, got ${url}`);
    const consentChallenge = new URL(url).searchParams.get('consent_challenge');
    const consentQuery = `consent_challenge=${encodeURIComponent(consentChallenge)}`;
    const request = await admin('GET', `/admin/oauth2/auth/requests/consent?${consentQuery}`);
    const consent = await admin('PUT', `/admin/oauth2/auth/requests/consent/accept?${consentQuery}`, {
      grant_scope: request.requested_scope,
      grant_access_token_audience: request.requested_access_token_audience,
      remember: false,
      session: { id_token: { email: 'bench@example.com' }, access_token: { tier: 'bench' } },
    });

    // Back at the client with a code: exchange it with the PKCE verifier.
    url = await browse(jar, consent.redirect_to);
    if (!url.startsWith(REDIRECT_URI)) throw new Error(`expected the client's redirect, got ${url}`);
    const callback = new URL(url).searchParams;
    if (callback.get('state') !== state) throw new Error('the state came back changed');
    const code = callback.get('code');
    if (!code) throw new Error(`no code: ${url}`);
    const response = await publicPool.request({
      path: new URL(server.endpoints.token).pathname,
      method: 'POST',
      headers: { authorization: tokenAuth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
    });
    await expectStatus(response, [200], 'POST /oauth2/token');
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
    if (firstError) process.stderr.write(`W5 (${server.store}): ${errors} failed flows, first: ${firstError.message}\n`);
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

  return { flow, measure, refreshTokens, close: () => Promise.all([publicPool.close(), adminPool.close()]) };
}
