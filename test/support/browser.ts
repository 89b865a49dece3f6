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
}

export interface ConsentChoice {
  grant_scope?: string[];
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
              grant_access_token_audience: consent.requested_access_token_audience,
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
