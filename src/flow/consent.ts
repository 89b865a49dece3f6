import type { FastifyReply } from 'fastify';
import { rfc3339 } from '../client/validate.js';
import { AccessDeniedError, ConsentRequiredError, NotFoundError } from '../http/errors.js';
import type { AuthorizeRequest } from '../oauth2/authorize/model.js';
import { requestedAudience } from '../oauth2/resource.js';
import { obfuscatedSubject } from '../oauth2/subject.js';
import { spaceSeparated } from '../util/space-separated.js';
import { fallbackUrl, flowUrl, oidcContext, openChallenge, publicClient, withQuery } from './common.js';
import { csrfCookieName, setCookie } from './cookies.js';
import type { ConsentDecision } from './decision.js';
import type { FlowDeps } from './deps.js';
import type { ConsentSession, LoginSession, SessionStore } from './session-store.js';
import { bindingOf, type FlowState, flowIdOf, sealFlow } from './state.js';

/** Login fields a consent challenge and verifier carry forward from the login verifier. */
const LOGIN_FIELDS = [
  'subject',
  'sid',
  'authTime',
  'newSession',
  'remember',
  'rememberFor',
  'extendSessionLifespan',
  'acr',
  'amr',
  'context',
  'forceSubjectIdentifier',
  'identityProviderSessionId',
  'deviceRequestId',
  'deviceChallengeId',
] as const satisfies ReadonlyArray<keyof FlowState>;

function loginFields(state: FlowState): Partial<FlowState> {
  return Object.fromEntries(LOGIN_FIELDS.map((field) => [field, state[field]]));
}

/** Public clients on non-https, non-loopback redirects could be impersonated: always ask them (Hydra, RFC 8252 §8.6). */
function mustAlwaysAsk(authz: AuthorizeRequest): boolean {
  if (authz.client.token_endpoint_auth_method !== 'none') return false;
  try {
    const url = new URL(authz.redirectUri);
    return url.protocol !== 'https:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return true;
  }
}

/** Step 3: look for a remembered consent that covers the request, then send the browser to the consent app. */
export async function startConsent(
  registry: FlowDeps,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  login: FlowState,
): Promise<FastifyReply> {
  const { config } = registry;
  let skip = false;
  // A device flow is never skipped for a public client: the person must always see which device they let in (as Hydra).
  const alwaysAsk = login.deviceRequestId ? authz.client.token_endpoint_auth_method === 'none' : mustAlwaysAsk(authz);
  if (!authz.prompt.has('consent') && !alwaysAsk) {
    const remembered = await registry.sessions.rememberedConsents(login.subject, authz.client.client_id, registry.clock.now());
    skip = remembered.some(
      (consent) =>
        authz.scope.every((scope) => consent.grantScope.includes(scope)) &&
        authz.audience.every((aud) => consent.grantAudience.includes(aud)),
    );
  }
  if (authz.prompt.has('none') && !skip)
    throw new ConsentRequiredError('Prompt "none" was requested, but no previous consent covers the requested scopes.');
  const challenge = sealFlow(registry.keyring, 'consent-challenge', {
    ...loginFields(login),
    csrf: login.csrf,
    requestedAt: login.requestedAt,
    params: authz.params,
    skip,
  });
  setCookie(reply, config, csrfCookieName(config, 'consent', authz.client.client_id), login.csrf, {
    maxAge: Math.round(config.ttl.login_consent_request / 1000),
  });
  return reply.redirect(withQuery(config.urls.consent || fallbackUrl(config, 'consent'), 'consent_challenge', challenge), 302);
}

async function consentRequestOf(registry: FlowDeps, state: FlowState, challenge: string) {
  const stored = await registry.clients.find(state.params.client_id ?? '');
  if (!stored) throw new NotFoundError('The client of this consent request no longer exists.');
  const flowId = flowIdOf(state);
  return {
    challenge,
    consent_request_id: flowId,
    requested_scope: spaceSeparated(state.params.scope),
    requested_access_token_audience: requestedAudience(state.params),
    skip: state.skip,
    subject: state.subject,
    oidc_context: oidcContext(state.params, undefined),
    client: publicClient(stored.client),
    request_url: flowUrl(registry.config, state),
    login_challenge: flowId,
    login_session_id: state.sid,
    acr: state.acr,
    amr: state.amr,
    context: state.context,
    ...(state.deviceChallengeId ? { device_challenge_id: state.deviceChallengeId } : {}),
  };
}

/** `GET /admin/oauth2/auth/requests/consent`: Hydra's oAuth2ConsentRequest. */
export async function describeConsentRequest(registry: FlowDeps, challenge: string) {
  return consentRequestOf(registry, await openChallenge(registry, 'consent', challenge), challenge);
}

export interface AcceptConsent {
  grant_scope?: string[];
  grant_access_token_audience?: string[];
  remember?: boolean;
  remember_for?: number;
  session?: { access_token?: Record<string, unknown>; id_token?: Record<string, unknown> };
  context?: unknown;
}

/** `PUT …/consent/accept`: seals the decision into a verifier; the consent app is trusted with the scope (as in Hydra). */
export async function acceptConsent(registry: FlowDeps, challenge: string, body: AcceptConsent): Promise<string> {
  const state = await openChallenge(registry, 'consent', challenge);
  const verifier = sealFlow(registry.keyring, 'consent-verifier', {
    ...loginFields(state),
    csrf: state.csrf,
    requestedAt: state.requestedAt,
    bind: bindingOf(state.params),
    grantScope: body.grant_scope ?? [],
    grantAudience: body.grant_access_token_audience ?? [],
    consentRemember: body.remember === true,
    consentRememberFor: body.remember_for ?? 0,
    accessTokenClaims: body.session?.access_token ?? {},
    idTokenClaims: body.session?.id_token ?? {},
    consentContext: body.context ?? {},
    handledAt: Math.floor(registry.clock.now() / 1000),
  });
  return flowUrl(registry.config, state, { consent_verifier: verifier });
}

/** Step 4: the decision of a completed flow (nothing is written yet; see `recordConsent`). */
export async function decideConsent(registry: FlowDeps, authz: AuthorizeRequest, state: FlowState): Promise<ConsentDecision> {
  const { config } = registry;
  const { client } = authz;
  const flowId = flowIdOf(state);
  const shownSubject = obfuscatedSubject(config, client, state.subject, state.forceSubjectIdentifier);
  const forced = state.forceSubjectIdentifier || (await registry.sessions.forcedSubject(state.subject, client.client_id));
  let loginSession: LoginSession | undefined;
  if (state.newSession || state.extendSessionLifespan) {
    const lifetime =
      state.remember && state.rememberFor > 0
        ? Math.min(state.rememberFor * 1000, config.ttl.authentication_session)
        : config.ttl.authentication_session;
    loginSession = {
      id: state.sid,
      subject: state.subject,
      authenticatedAt: state.authTime * 1000,
      remember: state.remember,
      expiresAt: registry.clock.now() + lifetime,
      identityProviderSessionId: state.identityProviderSessionId,
    };
  }
  const consent: ConsentSession = {
    id: flowId,
    clientId: client.client_id,
    subject: state.subject,
    loginSessionId: state.sid,
    grantScope: state.grantScope,
    grantAudience: state.grantAudience,
    remember: state.consentRemember,
    rememberFor: state.consentRememberFor,
    handledAt: state.handledAt * 1000,
    document: {
      consent_request_id: flowId,
      grant_scope: state.grantScope,
      grant_access_token_audience: state.grantAudience,
      session: { access_token: state.accessTokenClaims, id_token: state.idTokenClaims },
      remember: state.consentRemember,
      remember_for: state.consentRememberFor,
      handled_at: rfc3339(new Date(state.handledAt * 1000)),
      context: state.consentContext,
      consent_request: await consentRequestOf(registry, { ...state, params: authz.params }, flowId),
    },
  };
  return {
    subject: state.subject,
    subjectForClient: forced || shownSubject,
    scope: state.grantScope,
    audience: state.grantAudience,
    consentId: flowId,
    requestedAt: state.requestedAt,
    authTime: state.authTime,
    acr: state.acr,
    amr: state.amr,
    sid: state.sid,
    accessTokenClaims: state.accessTokenClaims,
    idTokenClaims: state.idTokenClaims,
    consent,
    loginSession,
    forcedSubject: state.forceSubjectIdentifier || undefined,
  };
}

/**
 * The flow's only writes, for the caller's unit of work (beside the code or tokens): the consent,
 * the login session and a forced subject. A replayed verifier finds its consent recorded already.
 */
export async function recordConsent(sessions: SessionStore, decision: ConsentDecision): Promise<void> {
  if (!(await sessions.insertConsent(decision.consent))) throw new AccessDeniedError('The consent verifier has already been used.');
  if (decision.loginSession) await sessions.saveLoginSession(decision.loginSession);
  if (decision.forcedSubject) await sessions.setForcedSubject(decision.subject, decision.consent.clientId, decision.forcedSubject);
}
