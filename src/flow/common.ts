import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { HttpError } from '../http/errors.js';
import type { AuthorizeParams, FlowState } from './state.js';

/** The authorization URL a flow continues at (Hydra's `request_url`). */
export function requestUrl(config: Config, params: AuthorizeParams, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ ...params, ...extra });
  return `${config.urls.self.public.replace(/\/+$/, '')}/oauth2/auth?${query}`;
}

export function isExpired(config: Config, state: Pick<FlowState, 'requestedAt'>, now = Date.now()): boolean {
  return state.requestedAt * 1000 + config.ttl.login_consent_request < now;
}

/** Where the built-in pages live when `urls.login` and friends are not configured. */
export function fallbackUrl(config: Config, page: string): string {
  return `${config.urls.self.public.replace(/\/+$/, '')}/oauth2/fallbacks/${page}`;
}

export function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.toString();
}

/** The OIDC context shown to login and consent apps. */
export function oidcContext(params: AuthorizeParams, idTokenHintClaims: Record<string, unknown> | undefined) {
  const split = (value: string | undefined) => (value ?? '').split(' ').filter(Boolean);
  return {
    acr_values: split(params.acr_values),
    ui_locales: split(params.ui_locales),
    display: params.display ?? '',
    id_token_hint_claims: idTokenHintClaims ?? {},
    login_hint: params.login_hint ?? '',
  };
}

/** A client as flows show it: never with a secret. */
export function publicClient(client: OAuth2Client): OAuth2Client {
  const { client_secret: _secret, ...rest } = client as OAuth2Client & { client_secret?: string };
  return rest as OAuth2Client;
}

/** 410 with where the browser should go instead, for challenges already used (Hydra's answer). */
export class ChallengeUsedError extends HttpError {
  constructor(readonly redirectTo: string) {
    super('Gone', 410, 'The request has already been handled.');
  }
  override body() {
    return { redirect_to: this.redirectTo } as unknown as ReturnType<HttpError['body']>;
  }
}
