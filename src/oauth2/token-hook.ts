import { outboundPolicy } from '../client/remote-checks.js';
import { rfc3339 } from '../client/validate.js';
import { HttpError } from '../http/errors.js';
import { NotJsonError, postJson } from '../http/outbound.js';
import type { TokenHookDeps } from './deps.js';
import type { FormBody } from './token-params.js';
import type { TokenSession } from './token-store.js';
import type { Grant } from './tokens.js';

/**
 * Hydra's token hooks (`oauth2.refresh_token_hook`, then `oauth2.token_hook`): before a grant issues
 * tokens, the configured URL is POSTed the grant's session and request. A 200 answer's
 * `session.access_token` and `session.id_token` replace the access token's extra claims (`ext`) and
 * the ID token's extra claims; 204 keeps them; 403 refuses the request (`access_denied`); anything
 * else, an unreachable or slow hook, or an answer that is not JSON is `server_error`. Either way a
 * refused request issues nothing, since every grant calls this before it mints.
 */

type HookName = 'token_hook' | 'refresh_token_hook';

/** What a grant is about to issue, and the request that asked for it. */
export interface HookedRequest {
  grant: Grant;
  /** The grant type of this token request (a refreshed grant keeps its original one in the session). */
  grantType: string;
  /** The scope the request asked for (fosite's requested scopes); the grant's scope is what is granted. */
  requestedScope: readonly string[];
  body: FormBody;
}

/** Deadline for one hook call: a slow hook must not hold token requests open. */
const HOOK_TIMEOUT_MS = 5000;
/** The largest hook answer read, as Hydra (5 MiB). */
const HOOK_MAX_BYTES = 5 * 1024 * 1024;
/** The token request's form fields a hook is shown (fosite's Sanitize with Hydra's allow list); never credentials. */
const PAYLOAD_FIELDS = ['grant_type', 'response_type', 'scope', 'client_id', 'assertion'];
/** Go's zero time, which Hydra sends for the session's times it does not know. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Runs the hooks that apply to this request and returns the session to issue with: the grant's own,
 * or with the hooks' claims in place. The one entry point every grant calls before minting.
 */
export async function applyTokenHooks(registry: TokenHookDeps, request: HookedRequest): Promise<TokenSession> {
  let session = request.grant.session;
  if (request.grantType === 'refresh_token') {
    session = await callHook(registry, 'refresh_token_hook', session, refreshHookBody(registry, request, session));
  }
  return callHook(registry, 'token_hook', session, tokenHookBody(registry, request, session));
}

async function callHook(registry: TokenHookDeps, hook: HookName, session: TokenSession, body: unknown): Promise<TokenSession> {
  const settings = registry.config.oauth2[hook];
  if (settings.url === '') return session;
  const started = performance.now();
  let outcome = 'failed';
  try {
    const answer = await postJson(settings.url, outboundPolicy(registry.config, {}), body, {
      timeoutMs: HOOK_TIMEOUT_MS,
      maxBytes: HOOK_MAX_BYTES,
      headers: authHeaders(settings.auth),
      tracing: registry.tracing,
    }).catch((error: unknown) => {
      if (error instanceof NotJsonError) throw undecodable();
      throw hookError('An error occurred while executing the token hook.', `Unable to execute HTTP Request: ${(error as Error).message}`);
    });
    if (answer.status === 204) {
      outcome = 'unchanged';
      return session;
    }
    if (answer.status === 403) {
      outcome = 'denied';
      throw new HttpError(
        'access_denied',
        403,
        'The token hook target responded with an error.',
        '',
        'Token hook responded with HTTP status code: 403',
      );
    }
    if (answer.status !== 200) {
      throw hookError('The token hook target responded with an error.', `Token hook responded with HTTP status code: ${answer.status}`);
    }
    const merged = mergeAnswer(session, answer.body);
    outcome = 'ok';
    return merged;
  } finally {
    registry.metrics.tokenHookCalls.inc({ hook, outcome });
    registry.metrics.tokenHookDuration.observe({ hook }, (performance.now() - started) / 1000);
  }
}

function hookError(description: string, debug: string): HttpError {
  return new HttpError('server_error', 500, description, '', debug);
}

/** The API key, as a header or a cookie (`auth.type: api_key`); no auth type sends nothing. */
function authHeaders(auth: TokenHookDeps['config']['oauth2']['token_hook']['auth']): Record<string, string> {
  if (auth.type !== 'api_key' || auth.config.name === '') return {};
  if (auth.config.in === 'cookie') return { cookie: `${auth.config.name}=${auth.config.value}` };
  return { [auth.config.name]: auth.config.value };
}

/**
 * Hydra overwrites the session's extra claims with the answer's `session.access_token` and
 * `session.id_token`: a missing one clears them, as in Hydra. Anything but objects is refused.
 */
function mergeAnswer(session: TokenSession, answer: unknown): TokenSession {
  const hookSession = isRecord(answer) ? answer.session : undefined;
  if (hookSession !== undefined && hookSession !== null && !isRecord(hookSession)) throw undecodable();
  const accessToken = hookSession?.access_token ?? {};
  const idToken = hookSession?.id_token ?? {};
  if (!isRecord(accessToken) || !isRecord(idToken)) throw undecodable();
  return { ...session, ext: { ...accessToken }, idTokenClaims: { ...idToken } };
}

function undecodable(): HttpError {
  return hookError('The token hook target responded with an error.', 'Response from token hook could not be decoded.');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The body `oauth2.token_hook` receives (Hydra's TokenHookRequest). */
function tokenHookBody(registry: TokenHookDeps, request: HookedRequest, session: TokenSession) {
  const { grant, grantType } = request;
  const payload: Record<string, string[]> = {};
  for (const field of PAYLOAD_FIELDS) {
    const values = request.body[field];
    if (values !== undefined) payload[field] = Array.isArray(values) ? [...values] : [values];
  }
  return {
    session: hydraSession(registry, grant, session),
    request: {
      client_id: grant.client.client_id,
      requested_scopes: [...request.requestedScope],
      granted_scopes: grant.scope,
      granted_audience: grant.audience,
      grant_types: [grantType],
      payload,
    },
  };
}

/** The body `oauth2.refresh_token_hook` receives (Hydra's RefreshTokenHookRequest, its fields both nested and flat). */
function refreshHookBody(registry: TokenHookDeps, request: HookedRequest, session: TokenSession) {
  const { grant, grantType } = request;
  const requester = {
    client_id: grant.client.client_id,
    granted_scopes: grant.scope,
    granted_audience: grant.audience,
    grant_types: [grantType],
  };
  return {
    subject: grant.subject,
    session: hydraSession(registry, grant, session),
    requester,
    client_id: requester.client_id,
    granted_scopes: requester.granted_scopes,
    granted_audience: requester.granted_audience,
  };
}

/** The session as Hydra serialises its oauth2.Session: the ID-token session under `id_token`, `ext` as `extra`. */
function hydraSession({ config }: TokenHookDeps, grant: Grant, session: TokenSession) {
  const { oauth2 } = config;
  const subject = session.obfuscatedSubject ?? grant.subject;
  return {
    id_token: {
      id_token_claims: {
        jti: '',
        iss: '',
        sub: subject,
        aud: [],
        nonce: session.nonce ?? '',
        exp: ZERO_TIME,
        iat: ZERO_TIME,
        rat: goTime(session.requestedAt),
        auth_time: goTime(session.authTime),
        at_hash: '',
        acr: session.acr ?? '',
        amr: session.amr ?? [],
        c_hash: '',
        ext: session.idTokenClaims ?? {},
      },
      headers: { extra: {} },
      expires_at: {},
      subject,
    },
    extra: session.ext,
    kid: '',
    client_id: grant.client.client_id,
    consent_challenge: grant.consentId ?? '',
    exclude_not_before_claim: oauth2.exclude_not_before_claim,
    allowed_top_level_claims: oauth2.allowed_top_level_claims,
    mirror_top_level_claims: oauth2.mirror_top_level_claims,
    preserve_ext_claims: oauth2.preserve_ext_claims,
  };
}

/** Epoch seconds as Go marshals a time.Time; unknown times as Go's zero time. */
function goTime(epochSeconds: number | undefined): string {
  return epochSeconds === undefined ? ZERO_TIME : rfc3339(new Date(epochSeconds * 1000));
}
