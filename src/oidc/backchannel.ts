import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { OAuth2Client } from '../client/model.js';
import { outboundPolicy } from '../client/remote-checks.js';
import type { StoredClient } from '../client/repository.js';
import { postForm, RefusedTargetError } from '../http/outbound.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import type { BackChannelDeps } from './deps.js';

/**
 * OpenID Connect Back-Channel Logout 1.0: when a login session ends, every client that took part in
 * it (completed a consent within it) and registered a `backchannel_logout_uri` receives a signed
 * logout token, POSTed form-encoded. Delivery runs in the background: the browser's logout never
 * waits for it, and a client that is slow, down or refusing only costs a log line.
 */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Each attempt's deadline. */
const ATTEMPT_TIMEOUT_MS = 5000;
/** Waits before the second and third attempts (network errors, timeouts and 5xx answers are retried). */
const RETRY_DELAYS_MS = [500, 2000];
/** Logout tokens are short-lived: the spec requires `exp` and advises a few minutes at most. */
const LOGOUT_TOKEN_LIFETIME_S = 300;

/**
 * The clients that took part in a login session, as they are stored now (deleted ones are skipped),
 * with their origin: a self-registered client's logout URI is held to the private-address rule.
 */
export async function clientsOfLoginSession(registry: BackChannelDeps, sid: string): Promise<StoredClient[]> {
  const ids = await registry.sessions.clientIdsOfLoginSession(sid);
  const stored = await Promise.all(ids.map((id) => registry.clients.find(id)));
  return stored.flatMap((entry) => (entry ? [entry] : []));
}

/**
 * A logout token for one client (Back-Channel Logout 1.0 §2.4): typed `logout+jwt`, signed with the
 * ID-token key, with `iss`, `aud`, `iat`, `exp`, `jti`, `events` and `sid`; never `nonce`. Like
 * Hydra, it names the session by `sid` and carries no `sub`.
 */
export async function signLogoutToken(registry: BackChannelDeps, client: OAuth2Client, sid: string): Promise<string> {
  const signer = await registry.keys.signingKey(ID_TOKEN_SET);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'logout+jwt' })
    .setIssuer(registry.config.urls.self.issuer)
    .setAudience([client.client_id])
    .setIssuedAt(now)
    .setExpirationTime(now + LOGOUT_TOKEN_LIFETIME_S)
    .setJti(randomUUID())
    .sign(signer.key);
}

/**
 * Notifies the back-channel clients among `clients` that login session `sid` ended. Returns at once
 * with a promise that settles when every delivery has succeeded or given up; it never rejects, so
 * callers do not await it.
 */
export function notifyBackChannel(registry: BackChannelDeps, sid: string, clients: readonly StoredClient[]): Promise<void> {
  const targets = clients.filter((stored) => stored.client.backchannel_logout_uri);
  if (!sid || targets.length === 0) return Promise.resolve();
  return Promise.allSettled(targets.map((stored) => deliver(registry, stored, sid))).then(() => undefined);
}

async function deliver(registry: BackChannelDeps, stored: StoredClient, sid: string): Promise<void> {
  const { logger, config } = registry;
  const { client } = stored;
  const policy = outboundPolicy(config, stored);
  let token: string;
  try {
    token = await signLogoutToken(registry, client, sid);
  } catch (error) {
    logger.error({ client_id: client.client_id, err: error }, 'back-channel logout: could not sign the logout token');
    return;
  }
  for (let attempt = 0; ; attempt++) {
    let outcome: string;
    try {
      const status = await postForm(
        client.backchannel_logout_uri,
        policy,
        { logout_token: token },
        { timeoutMs: ATTEMPT_TIMEOUT_MS, tracing: registry.tracing },
      );
      if (status >= 200 && status < 300) {
        logger.debug({ client_id: client.client_id, status }, 'back-channel logout delivered');
        return;
      }
      if (status < 500) {
        // The client refused the token (§2.8: 400 for an invalid one): sending it again would not help.
        logger.warn({ client_id: client.client_id, status }, 'back-channel logout refused by the client');
        return;
      }
      outcome = `status ${status}`;
    } catch (error) {
      if (error instanceof RefusedTargetError) {
        // The policy forbids this address: no retry can change that.
        logger.warn({ client_id: client.client_id, outcome: error.message }, 'back-channel logout not sent: the address is not public');
        return;
      }
      outcome = error instanceof Error ? error.message : String(error);
    }
    const delay = RETRY_DELAYS_MS[attempt];
    if (delay === undefined) {
      logger.warn({ client_id: client.client_id, attempts: attempt + 1, outcome }, 'back-channel logout failed, giving up');
      return;
    }
    logger.info({ client_id: client.client_id, attempt: attempt + 1, outcome }, 'back-channel logout failed, retrying');
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
  }
}
