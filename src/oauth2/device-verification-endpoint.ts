import type { FastifyReply, FastifyRequest } from 'fastify';
import { openVerifier } from '../flow/common.js';
import { decideConsent, recordConsent, startConsent } from '../flow/consent.js';
import type { DeviceFlowDeps } from '../flow/deps.js';
import { deviceDoneUrl, deviceFlowParams, openDeviceVerifier, startDevice } from '../flow/device.js';
import { startLogin, verifyLogin } from '../flow/login.js';
import type { RejectedRequest } from '../flow/state.js';
import type { RouteModule } from '../http/app.js';
import { AccessDeniedError, HttpError, InvalidClientError, InvalidRequestError } from '../http/errors.js';
import { spaceSeparated } from '../util/space-separated.js';
import { redirectToErrorPage } from './authorize/deliver.js';
import type { AuthorizeRequest } from './authorize/model.js';
import type { AuthorizeDeps } from './deps.js';
import type { DeviceGrant } from './device-store.js';
import { DEVICE_CODE_GRANT_TYPE } from './grants/device-code.js';
import { decisionSession } from './issue.js';
import { parseScope } from './scope.js';
import { singleValues } from './token-params.js';

type DeviceVerificationDeps = AuthorizeDeps & DeviceFlowDeps;

/**
 * `GET /oauth2/device/verify` (RFC 8628 `verification_uri`, Hydra's `performOAuth2DeviceVerificationFlow`).
 * Every leg of a device flow comes back here: without a verifier the browser gets a device challenge
 * and goes to the device verification app; with `device_verifier` (the user code accepted) it goes to
 * the login app; with `login_verifier` to the consent app; with `consent_verifier` the device request
 * is granted (or, rejected at login or consent, denied) and the browser goes to `urls.device.success`.
 */
export const deviceVerificationEndpoint: RouteModule = (app, registry) => {
  app.get('/oauth2/device/verify', async (request, reply) => {
    const { params, repeated } = singleValues(request.query);
    if (repeated.length > 0) throw new InvalidRequestError(`The "${repeated[0]}" parameter was included more than once.`);
    const { device_verifier: deviceVerifier, login_verifier: loginVerifier, consent_verifier: consentVerifier, ...rest } = params;
    const given = [deviceVerifier, loginVerifier, consentVerifier].filter((value) => value !== undefined);
    if (given.length > 1) throw new InvalidRequestError('Only one of device_verifier, login_verifier and consent_verifier may be given.');
    if (deviceVerifier !== undefined) return verifiedDevice(registry, request, reply, deviceVerifier);
    if (loginVerifier !== undefined) return verifiedLogin(registry, request, reply, rest, loginVerifier);
    if (consentVerifier !== undefined) return verifiedConsent(registry, request, reply, rest, consentVerifier);
    return startDevice(registry, request, reply, rest);
  });
};

/** The user code was accepted: the device request's client, scope and audience go to the login app. */
async function verifiedDevice(registry: DeviceVerificationDeps, request: FastifyRequest, reply: FastifyReply, sealed: string) {
  const { state, device } = await openDeviceVerifier(registry, request, reply, sealed);
  const authz = await deviceAuthorizeRequest(registry, deviceFlowParams(device));
  return startLogin(registry, request, reply, authz, { requestId: device.requestId, challengeId: state.deviceChallengeId });
}

/** A leg that returns with a login or consent verifier, the device request's parameters beside it. */
type VerifierLeg = (
  registry: DeviceVerificationDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  params: Record<string, string>,
  sealed: string,
) => Promise<FastifyReply>;

const verifiedLogin: VerifierLeg = async (registry, request, reply, params, sealed) => {
  const authz = await deviceAuthorizeRequest(registry, params);
  const state = verifyLogin(registry, request, reply, authz, sealed);
  if (!state.deviceRequestId) throw new InvalidRequestError('The login verifier does not belong to a device flow.');
  if (state.rejected) return denied(registry, reply, state.deviceRequestId, state.rejected);
  return startConsent(registry, reply, authz, state);
};

const verifiedConsent: VerifierLeg = async (registry, request, reply, params, sealed) => {
  const authz = await deviceAuthorizeRequest(registry, params);
  const state = openVerifier(registry, request, reply, authz, 'consent', sealed);
  if (!state.deviceRequestId) throw new InvalidRequestError('The consent verifier does not belong to a device flow.');
  if (state.rejected) return denied(registry, reply, state.deviceRequestId, state.rejected);
  // Decided before the unit of work (it reads the client and a forced subject; SQLite has one connection).
  const decision = await decideConsent(registry, authz, state);
  const grant: DeviceGrant = {
    subject: decision.subject,
    scope: decision.scope,
    audience: decision.audience,
    consentId: decision.consentId,
    session: decisionSession(DEVICE_CODE_GRANT_TYPE, decision),
  };
  const now = registry.clock.now();
  await registry.persister.transaction(async ({ sessions, devices }) => {
    await recordConsent(sessions, decision);
    if (!(await devices.grant(state.deviceRequestId, grant, now))) {
      throw new AccessDeniedError('The device request has expired or was already completed.');
    }
  });
  registry.metrics.flowsCompleted.inc({ flow: 'device' });
  return reply.header('cache-control', 'no-store').redirect(deviceDoneUrl(registry.config, authz.client.client_id), 302);
};

/**
 * The login or consent app rejected the flow: the device request is denied (its polling gets
 * `access_denied`), and the browser is shown the rejection on the error page (a device flow has no
 * redirect URI to deliver it to).
 */
async function denied(registry: DeviceVerificationDeps, reply: FastifyReply, requestId: string, rejected: RejectedRequest) {
  await registry.devices.deny(requestId);
  const error = new HttpError(rejected.error || 'access_denied', rejected.status_code || 403, rejected.error_description);
  return redirectToErrorPage(reply, registry.config, error);
}

/**
 * The authorization request a device flow's login and consent stand on: the device request's client,
 * scope and audience (the legs' parameters, which the verifiers are bound to), no redirect URI.
 */
async function deviceAuthorizeRequest(registry: DeviceVerificationDeps, params: Record<string, string>): Promise<AuthorizeRequest> {
  const clientId = params.client_id;
  if (!clientId) throw new InvalidClientError("Query parameter 'client_id' is missing.");
  const stored = await registry.clients.find(clientId);
  if (!stored) throw new InvalidClientError('Client does not exist');
  return {
    params,
    client: stored.client,
    redirectUri: '',
    redirectUriSent: false,
    responseTypes: new Set(),
    responseMode: 'query',
    state: '',
    nonce: '',
    scope: parseScope(params.scope),
    audience: spaceSeparated(params.audience),
    prompt: new Set(),
    maxAge: undefined,
    idTokenHintClaims: undefined,
    codeChallenge: '',
  };
}
