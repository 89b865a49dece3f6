import { sha256Hex } from '../../crypto/keyring.js';
import { verifyOpaqueToken } from '../../crypto/opaque-token.js';
import {
  AccessDeniedError,
  AuthorizationPendingError,
  ExpiredTokenError,
  InvalidGrantError,
  InvalidRequestError,
  SlowDownError,
} from '../../http/errors.js';
import type { GrantDeps } from '../deps.js';
import type { GrantHandler } from '../grant.js';
import { mintTokenResponse } from '../issue.js';
import { applyTokenHooks } from '../token-hook.js';
import { single } from '../token-params.js';
import type { Grant } from '../tokens.js';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4, fosite's rfc8628 token
 * handler). The client polls with its device code: `expired_token` once the code's lifetime is over,
 * `slow_down` when it polls sooner than `oauth2.device_authorization.token_polling_interval` after its
 * previous poll, `authorization_pending` until the person completes the flow, `access_denied` when the
 * login or consent app rejected it; then tokens, once. A used code presented again revokes the tokens
 * issued with it.
 */
export const deviceCodeGrant: GrantHandler = async ({ registry, client, body }) => {
  const presented = single(body, 'device_code');
  if (!presented) throw new InvalidRequestError('The "device_code" parameter is missing.');
  const signature = verifyOpaqueToken(registry.keyring, 'deviceCode', presented);
  const device = signature ? await registry.devices.findByDeviceCode(sha256Hex(signature)) : undefined;
  if (!device) throw new InvalidGrantError('The device code is malformed, unknown, or was not issued by this server.');
  if (device.clientId !== client.client_id) {
    throw new InvalidGrantError('The OAuth 2.0 Client ID from this request does not match the one from the authorize request.');
  }
  const now = registry.clock.now();
  if (device.state === 'used') await replayed(registry, device.requestId);
  // Expiry first (RFC 8628 §3.5): fosite answers authorization_pending for an expired code nobody
  // approved, which would have the device poll until its own patience ends.
  if (device.expiresAt <= now) throw new ExpiredTokenError(`Device code expired at '${new Date(device.expiresAt).toISOString()}'.`);
  const interval = registry.config.oauth2.device_authorization.token_polling_interval;
  if (!(await registry.devices.recordPoll(device.deviceCodeSignature, now, interval))) {
    throw new SlowDownError("Ensure that you don't call the token endpoint sooner than the polling interval");
  }
  if (device.state === 'pending') throw new AuthorizationPendingError();
  if (device.state === 'denied' || !device.grant) throw new AccessDeniedError('The resource owner denied the device access.');

  const { grant: granted } = device;
  const grant: Grant = {
    client,
    requestId: device.requestId,
    subject: granted.subject,
    scope: granted.scope,
    audience: granted.audience,
    session: { ...granted.session, grantType: DEVICE_CODE_GRANT_TYPE },
    consentId: granted.consentId,
    requestedAt: device.requestedAt,
  };
  // Before the code is spent: a hook that refuses leaves it usable, as for authorization codes.
  const hooked = await applyTokenHooks(registry, { grant, grantType: DEVICE_CODE_GRANT_TYPE, requestedScope: device.scope, body });
  // Minted before the unit of work (signing may read keys; SQLite has one connection), which spends
  // the code and stores the tokens together, as fosite does.
  const { response, rows } = await mintTokenResponse(registry, {
    ...grant,
    session: hooked,
    grant: 'device_authorization',
    includeNonce: false,
  });
  const issued = await registry.persister.transaction(async ({ devices, tokens }) => {
    if (!(await devices.markUsed(device.requestId))) return false;
    await tokens.insert(rows);
    return true;
  });
  if (!issued) await replayed(registry, device.requestId);
  return response;
};

/**
 * A spent device code again. Hydra deletes the row when the code is spent, so a replay is merely
 * unknown there; fosite's handler means to revoke what the code issued (as RFC 6749 §4.1.2 asks of
 * authorization codes), which we do: the row stays, marked used, until the janitor removes it.
 */
async function replayed(registry: GrantDeps, requestId: string): Promise<never> {
  await registry.tokenStore.revokeGrant(requestId);
  throw new InvalidGrantError('The device code has already been used. The tokens issued with it have been revoked.');
}
