import { type OAuth2Api, Configuration as OryConfiguration } from '@ory/hydra-client';
import * as oidc from 'openid-client';
import type { TestServer } from './server.js';

/** Where the test's login and consent "apps" live; the browser never loads them, the test plays them. */
export const LOGIN_URL = 'http://login.test/login';
export const CONSENT_URL = 'http://consent.test/consent';
export const FLOW_ENV = { URLS_LOGIN: LOGIN_URL, URLS_CONSENT: CONSENT_URL };

/**
 * A minimal browser: keeps cookies for the server (one host in tests) and follows redirects by
 * hand, so a test can step in where a person would use the login and consent apps.
 */
export class Browser {
  readonly cookies = new Map<string, string>();

  async get(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const index = (pair ?? '').indexOf('=');
      const name = (pair ?? '').slice(0, index).trim();
      const value = (pair ?? '').slice(index + 1).trim();
      const expired = attributes.some((a) => /max-age=0/i.test(a.trim()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** Follows redirects until one leaves the server (to an app or the client); returns that URL, or the last response. */
  async follow(url: string, init: RequestInit = {}): Promise<{ url: string; response: Response }> {
    let current = url;
    if (!current.startsWith('http://127.0.0.1')) return { url: current, response: new Response(null, { status: 204 }) };
    let response = await this.get(current, init);
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops++) {
      const next = new URL(response.headers.get('location') as string, current).toString();
      if (!next.startsWith('http://127.0.0.1')) return { url: next, response };
      current = next;
      response = await this.get(current);
    }
    return { url: current, response };
  }
}

export interface LoginChoice {
  subject?: string;
  remember?: boolean;
  remember_for?: number;
  reject?: boolean;
  acr?: string;
  amr?: string[];
  identity_provider_session_id?: string;
}

export interface ConsentChoice {
  grant_scope?: string[];
  /** The audience granted (default: all that was requested). */
  grant_access_token_audience?: string[];
  remember?: boolean;
  remember_for?: number;
  reject?: boolean;
  id_token?: Record<string, unknown>;
  access_token?: Record<string, unknown>;
}

/**
 * Drives one authorization request through login and consent, playing both apps with Ory's SDK,
 * until the browser is sent back to the client. Returns the URL the client receives.
 */
export async function runFlow(
  server: TestServer,
  browser: Browser,
  authorizationUrl: string,
  choices: { login?: LoginChoice | ((skip: boolean, subject: string) => LoginChoice); consent?: ConsentChoice } = {},
): Promise<{ callback: string; loginSkipped?: boolean; consentSkipped?: boolean; response: Response }> {
  const api: OAuth2Api = server.admin.oauth2;
  let { url, response } = await browser.follow(authorizationUrl);
  let loginSkipped: boolean | undefined;
  let consentSkipped: boolean | undefined;
  for (let step = 0; step < 6; step++) {
    if (url.startsWith(LOGIN_URL)) {
      const challenge = new URL(url).searchParams.get('login_challenge') as string;
      const { data: login } = await api.getOAuth2LoginRequest({ loginChallenge: challenge });
      loginSkipped = login.skip;
      const choice = typeof choices.login === 'function' ? choices.login(login.skip, login.subject) : (choices.login ?? {});
      const { data } = choice.reject
        ? await api.rejectOAuth2LoginRequest({
            loginChallenge: challenge,
            rejectOAuth2Request: { error: 'access_denied', error_description: 'The user said no.' },
          })
        : await api.acceptOAuth2LoginRequest({
            loginChallenge: challenge,
            acceptOAuth2LoginRequest: {
              subject: choice.subject ?? (login.skip ? login.subject : 'alice'),
              remember: choice.remember ?? false,
              ...(choice.remember_for !== undefined ? { remember_for: choice.remember_for } : {}),
              ...(choice.acr ? { acr: choice.acr } : {}),
              ...(choice.amr ? { amr: choice.amr } : {}),
              ...(choice.identity_provider_session_id ? { identity_provider_session_id: choice.identity_provider_session_id } : {}),
            },
          });
      ({ url, response } = await browser.follow(data.redirect_to));
    } else if (url.startsWith(CONSENT_URL)) {
      const challenge = new URL(url).searchParams.get('consent_challenge') as string;
      const { data: consent } = await api.getOAuth2ConsentRequest({ consentChallenge: challenge });
      consentSkipped = consent.skip;
      const choice = choices.consent ?? {};
      const { data } = choice.reject
        ? await api.rejectOAuth2ConsentRequest({
            consentChallenge: challenge,
            rejectOAuth2Request: { error: 'access_denied', error_description: 'No consent.' },
          })
        : await api.acceptOAuth2ConsentRequest({
            consentChallenge: challenge,
            acceptOAuth2ConsentRequest: {
              grant_scope: choice.grant_scope ?? consent.requested_scope,
              grant_access_token_audience: choice.grant_access_token_audience ?? consent.requested_access_token_audience,
              remember: choice.remember ?? false,
              ...(choice.remember_for !== undefined ? { remember_for: choice.remember_for } : {}),
              session: {
                id_token: choice.id_token ?? { email: 'alice@example.com' },
                access_token: choice.access_token ?? { tier: 'gold' },
              },
            },
          });
      ({ url, response } = await browser.follow(data.redirect_to));
    } else {
      return { callback: url, loginSkipped, consentSkipped, response };
    }
  }
  throw new Error(`flow did not end: ${url}`);
}

/** A fresh authorization request as a relying party builds it: random state and nonce, and PKCE (S256) unless `pkce: false`. */
export async function authorizationRequest(
  rp: oidc.Configuration,
  redirectUri: string,
  extra: Record<string, string> = {},
  options: { pkce?: boolean } = {},
): Promise<{ url: URL; state: string; nonce: string; verifier: string | undefined }> {
  const verifier = options.pkce === false ? undefined : oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const pkce: Record<string, string> = verifier
    ? { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }
    : {};
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid offline_access',
    state,
    nonce,
    ...pkce,
    ...extra,
  });
  return { url, state, nonce, verifier };
}

export interface AuthorizeOptions {
  browser?: Browser;
  /** Authorization request parameters to add or override. */
  extra?: Record<string, string>;
  choices?: Parameters<typeof runFlow>[3];
  pkce?: boolean;
}

/** An authorization request run through login and consent (see `runFlow`): the request and the client's callback URL. */
export async function authorize(server: TestServer, rp: oidc.Configuration, redirectUri: string, options: AuthorizeOptions = {}) {
  const request = await authorizationRequest(rp, redirectUri, options.extra, { pkce: options.pkce ?? true });
  const { callback } = await runFlow(server, options.browser ?? new Browser(), request.url.toString(), options.choices);
  return { ...request, callback: new URL(callback) };
}

/** The whole code flow: `authorize`, then the code exchanged by openid-client, checking state, nonce and PKCE. */
export async function signIn(server: TestServer, rp: oidc.Configuration, redirectUri: string, options: AuthorizeOptions = {}) {
  const started = await authorize(server, rp, redirectUri, options);
  const tokens = await oidc.authorizationCodeGrant(rp, started.callback, {
    ...(started.verifier ? { pkceCodeVerifier: started.verifier } : {}),
    expectedState: started.state,
    expectedNonce: started.nonce,
  });
  return { ...started, tokens };
}

/** An openid-client configuration for a client of the test server (discovery-free: metadata given directly). */
export function relyingParty(
  server: TestServer,
  clientId: string,
  clientSecret: string | undefined,
  metadata: Partial<oidc.ClientMetadata> = {},
): oidc.Configuration {
  const base = server.publicUrl;
  const config = new oidc.Configuration(
    {
      issuer: server.config.urls.self.issuer,
      authorization_endpoint: `${base}/oauth2/auth`,
      token_endpoint: `${base}/oauth2/token`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      revocation_endpoint: `${base}/oauth2/revoke`,
      authorization_response_iss_parameter_supported: true,
    },
    clientId,
    metadata,
    clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(),
  );
  oidc.allowInsecureRequests(config);
  oidc.enableNonRepudiationChecks(config);
  return config;
}

export { OryConfiguration };

/** An HTML form as a browser would submit it: where, how, and the values of its hidden inputs. */
export interface HtmlForm {
  action: string;
  method: string;
  /** Hidden inputs (the challenge, the CSRF token). */
  hidden: Record<string, string>;
  /** Names of every input, select and button, in document order. */
  names: string[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' || entity[1] === 'X' ? Number.parseInt(entity.slice(2), 16) : Number(entity.slice(1));
      return String.fromCodePoint(code);
    }
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of tag.matchAll(/([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    const name = (match[1] as string).toLowerCase();
    if (!(name in out)) out[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return out;
}

/** The `index`-th form of a page; `pageUrl` resolves its action. */
export function parseForm(html: string, pageUrl: string, index = 0): HtmlForm {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
  const form = forms[index];
  if (!form) throw new Error(`no form #${index} on ${pageUrl}`);
  const attrs = attributes(form[1] as string);
  const hidden: Record<string, string> = {};
  const names: string[] = [];
  for (const control of (form[2] as string).matchAll(/<(input|select|textarea|button)\b([^>]*)>/gi)) {
    const a = attributes(control[2] as string);
    if (a.name === undefined) continue;
    names.push(a.name);
    if (control[1]?.toLowerCase() === 'input' && a.type === 'hidden') hidden[a.name] = a.value ?? '';
  }
  return { action: new URL(attrs.action ?? '', pageUrl).toString(), method: (attrs.method ?? 'get').toLowerCase(), hidden, names };
}

/**
 * Submits a page's form as a browser would: its hidden inputs plus `values` (the fields a person fills
 * in and the button they press, e.g. `{ action: 'allow' }`), urlencoded, with the browser's cookies.
 * `omit` drops hidden inputs (to play an attacker). Returns the raw answer (usually a redirect).
 */
export async function submitForm(
  browser: Browser,
  page: { url: string; html: string },
  values: Record<string, string>,
  options: { omit?: string[]; index?: number } = {},
): Promise<Response> {
  const form = parseForm(page.html, page.url, options.index);
  const fields = { ...form.hidden, ...values };
  for (const name of options.omit ?? []) delete fields[name];
  return browser.get(form.action, {
    method: form.method.toUpperCase(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(page.url).origin },
    body: new URLSearchParams(fields).toString(),
  });
}
