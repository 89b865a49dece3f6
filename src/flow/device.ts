import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { safeEqual } from '../crypto/keyring.js';
import { InvalidRequestError, NotFoundError, RequestUnauthorizedError } from '../http/errors.js';
import type { DeviceRequest } from '../oauth2/device-store.js';
import { normalizeUserCode, userCodeSignatures } from '../oauth2/user-code.js';
import { fallbackUrl, flowUrl, isExpired, withQuery } from './common.js';
import { deviceCsrfCookieName, readCookies, setCookie } from './cookies.js';
import type { DeviceFlowDeps } from './deps.js';
import { type AuthorizeParams, type FlowState, flowIdOf, newCsrfToken, openFlow, sealFlow } from './state.js';

/**
 * The device flow's first legs (RFC 8628 §3.3), stateless like login and consent: the browser opens
 * the verification URI and gets a sealed **device challenge** (bound to it by the device CSRF cookie)
 * and is sent to the device verification app; the app asks the person for the user code and submits
 * it through the admin API, which answers with a sealed **device verifier** naming the device
 * request; the browser brings it back, and the normal login and consent follow (see docs/flows.md).
 */

/** `GET /oauth2/device/verify` without verifiers: a new device challenge, and the browser sent to the verification app. */
export function startDevice(registry: DeviceFlowDeps, request: FastifyRequest, reply: FastifyReply, query: AuthorizeParams): FastifyReply {
  const { config } = registry;
  registry.deviceGuessing.openChallenge(request.ip);
  const csrf = newCsrfToken(registry.random);
  // The user code is not kept in the challenge (Hydra leaves it out of the flow's request_url too).
  const { user_code: userCode, ...params } = query;
  const challenge = sealFlow(registry.keyring, 'device-challenge', {
    csrf,
    requestedAt: Math.floor(registry.clock.now() / 1000),
    params,
  });
  setCookie(reply, config, deviceCsrfCookieName(config), csrf, { maxAge: Math.round(config.ttl.login_consent_request / 1000) });
  const app = new URL(config.urls.device.verification || fallbackUrl(config, 'device'));
  app.searchParams.set('device_challenge', challenge);
  if (userCode !== undefined) app.searchParams.set('user_code', userCode);
  registry.metrics.flowsStarted.inc({ flow: 'device' });
  return reply.header('cache-control', 'no-store').redirect(app.toString(), 302);
}

const USER_CODE_PROBLEM = "The 'user_code' session could not be found or has expired or is otherwise malformed.";

/**
 * `PUT /admin/oauth2/auth/requests/device/accept`: the user code the person typed, checked against the
 * pending device requests by its keyed hash; answers where the browser goes next (with a device
 * verifier). Writes nothing: the request is granted only when the consent completes.
 */
export async function acceptUserCode(registry: DeviceFlowDeps, challenge: string, typed: string): Promise<string> {
  const { config } = registry;
  const state = openFlow(registry.keyring, 'device-challenge', challenge);
  if (!state) throw new NotFoundError('The device challenge is not valid.');
  const now = registry.clock.now();
  if (isExpired(config, state, now)) throw new RequestUnauthorizedError('The device request has expired. Please try again.');
  if (!typed) throw new InvalidRequestError("Field 'user_code' must not be empty.");
  const challengeId = flowIdOf(state);
  registry.deviceGuessing.tryUserCode(challengeId);
  const found = await registry.devices.findByUserCode(userCodeSignatures(registry.keyring, normalizeUserCode(config, typed)));
  const device = pendingDevice(found, now);
  const verifier = sealFlow(registry.keyring, 'device-verifier', {
    csrf: state.csrf,
    requestedAt: state.requestedAt,
    deviceRequestId: device.requestId,
    deviceChallengeId: challengeId,
  });
  const url = new URL(flowUrl(config, { params: { ...state.params, client_id: device.clientId }, deviceRequestId: device.requestId }));
  url.searchParams.set('device_verifier', verifier);
  return url.toString();
}

/**
 * The browser is back with a device verifier: sealed for this purpose, not expired, presented by the
 * browser holding the device CSRF cookie (then cleared), for a device request still pending.
 */
export async function openDeviceVerifier(
  registry: DeviceFlowDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  sealed: string,
): Promise<{ state: FlowState; device: DeviceRequest }> {
  const { config } = registry;
  const state = openFlow(registry.keyring, 'device-verifier', sealed);
  if (!state?.deviceRequestId) throw new InvalidRequestError('The device verifier is invalid.');
  const now = registry.clock.now();
  if (isExpired(config, state, now)) throw new RequestUnauthorizedError('The device request has expired. Please try again.');
  const name = deviceCsrfCookieName(config);
  const presented = readCookies(request)[name];
  if (presented === undefined || state.csrf === '' || !safeEqual(presented, state.csrf)) {
    throw new InvalidRequestError(
      'The device CSRF cookie is missing or does not match: the device flow must finish in the browser that started it.',
    );
  }
  setCookie(reply, config, name, '', { maxAge: 0 });
  const device = pendingDevice(await registry.devices.findByRequestId(state.deviceRequestId), now);
  return { state, device };
}

/** The device request, when it still waits for its person; else Hydra's answer for an unusable user code. */
function pendingDevice(device: DeviceRequest | undefined, now: number): DeviceRequest {
  if (device?.state !== 'pending' || device.expiresAt <= now) throw new InvalidRequestError(USER_CODE_PROBLEM);
  return device;
}

/** The parameters a device flow's login and consent carry (and its legs return to the verification endpoint with). */
export function deviceFlowParams(device: Pick<DeviceRequest, 'clientId' | 'scope' | 'audience'>): AuthorizeParams {
  return {
    client_id: device.clientId,
    ...(device.scope.length > 0 ? { scope: device.scope.join(' ') } : {}),
    ...(device.audience.length > 0 ? { audience: device.audience.join(' ') } : {}),
  };
}

/** Where a completed device flow sends the browser (Hydra: `urls.device.success?client_id=…`). */
export function deviceDoneUrl(config: Config, clientId: string): string {
  return withQuery(config.urls.device.success || fallbackUrl(config, 'device/done'), 'client_id', clientId);
}
