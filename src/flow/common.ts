import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { publicUrl } from '../config/urls.js';
import { HttpError, InvalidRequestError, NotFoundError, RequestUnauthorizedError } from '../http/errors.js';
import type { AuthorizeRequest } from '../oauth2/authorize/model.js';
import { spaceSeparated } from '../util/space-separated.js';
import { type CsrfKind, csrfCookieName, csrfMatches, setCookie } from './cookies.js';
import type { FlowDeps } from './deps.js';
import { type AuthorizeParams, bindingOf, type FlowState, flowIdOf, openFlow, type RejectedRequest, sealFlow } from './state.js';

/** The authorization URL a flow continues at (Hydra's `request_url`). */
export function requestUrl(config: Config, params: AuthorizeParams, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ ...params, ...extra });
  return publicUrl(config, `/oauth2/auth?${query}`);
}

/** The device verification endpoint (RFC 8628 `verification_uri`), where every leg of a device flow returns. */
export const DEVICE_VERIFICATION_PATH = '/oauth2/device/verify';

/**
 * Where a flow's browser continues: the authorization endpoint, or for a device flow the device
 * verification endpoint (with the device request's client, scope and audience as its parameters).
 */
export function flowUrl(config: Config, state: Pick<FlowState, 'params' | 'deviceRequestId'>, extra: Record<string, string> = {}): string {
  if (!state.deviceRequestId) return requestUrl(config, state.params, extra);
  const query = new URLSearchParams({ ...state.params, ...extra });
  return publicUrl(config, `${DEVICE_VERIFICATION_PATH}?${query}`);
}

export function isExpired(config: Config, state: Pick<FlowState, 'requestedAt'>, now: number): boolean {
  return state.requestedAt * 1000 + config.ttl.login_consent_request < now;
}

/** Where the built-in pages live when `urls.login` and friends are not configured. */
export function fallbackUrl(config: Config, page: string): string {
  return publicUrl(config, `/oauth2/fallbacks/${page}`);
}

export function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.toString();
}

/** The OIDC context shown to login and consent apps. */
export function oidcContext(params: AuthorizeParams, idTokenHintClaims: Record<string, unknown> | undefined) {
  return {
    acr_values: spaceSeparated(params.acr_values),
    ui_locales: spaceSeparated(params.ui_locales),
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

/** Opens a login or consent challenge for the admin API: 404 when it is not one, 401 when expired, 410 when used. */
export async function openChallenge(registry: FlowDeps, stage: CsrfKind, challenge: string): Promise<FlowState> {
  const state = openFlow(registry.keyring, `${stage}-challenge`, challenge);
  if (!state) throw new NotFoundError(`The ${stage} challenge is not valid.`);
  if (isExpired(registry.config, state, registry.clock.now())) {
    throw new RequestUnauthorizedError(`The ${stage} request has expired. Please try again.`);
  }
  if (await registry.sessions.findConsent(flowIdOf(state))) throw new ChallengeUsedError(flowUrl(registry.config, state));
  return state;
}

/**
 * Checks a verifier the browser brought back: sealed for this stage, bound to this very request,
 * not expired, and presented by the browser holding the flow's CSRF cookie (which is then cleared).
 */
export function openVerifier(
  registry: FlowDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  stage: CsrfKind,
  sealed: string,
): FlowState {
  const { config } = registry;
  const state = openFlow(registry.keyring, `${stage}-verifier`, sealed);
  if (!state || state.bind !== bindingOf(authz.params)) {
    throw new InvalidRequestError(`The ${stage} verifier is invalid or belongs to another request.`);
  }
  if (isExpired(config, state, registry.clock.now()))
    throw new RequestUnauthorizedError(`The ${stage} request has expired. Please try again.`);
  if (!csrfMatches(request, config, stage, authz.client.client_id, state.csrf)) {
    throw new InvalidRequestError(
      `The ${stage} CSRF cookie is missing or does not match: the flow must finish in the browser that started it.`,
    );
  }
  setCookie(reply, config, csrfCookieName(config, stage, authz.client.client_id), '', { maxAge: 0 });
  return state;
}

/** A rejection by the login or consent app, sealed into a verifier; returns where the browser goes next. */
export async function rejectionRedirect(
  registry: FlowDeps,
  stage: CsrfKind,
  challenge: string,
  rejected: RejectedRequest,
): Promise<string> {
  const state = await openChallenge(registry, stage, challenge);
  const verifier = sealFlow(registry.keyring, `${stage}-verifier`, {
    csrf: state.csrf,
    requestedAt: state.requestedAt,
    bind: bindingOf(state.params),
    rejected,
    deviceRequestId: state.deviceRequestId,
  });
  return flowUrl(registry.config, state, { [`${stage}_verifier`]: verifier });
}
