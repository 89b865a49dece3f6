import type { OAuth2Client } from '../../client/model.js';
import type { StoredClient } from '../../client/repository.js';
import { sha256Hex } from '../../crypto/keyring.js';
import { InvalidRequestError, InvalidRequestUriError } from '../../http/errors.js';
import type { PushedRequestDeps } from '../deps.js';
import { fapi2Applies, fapi2RequestUriLifespan } from '../fapi2.js';

/**
 * Pushed authorization requests (RFC 9126). A client posts its authorization request to
 * `POST /oauth2/par` (`par-endpoint.ts`); every check of the authorization endpoint runs then, and
 * the checked parameters are stored under a fresh `urn:ietf:params:oauth:request_uri:<random>`.
 * The browser then brings only `client_id` and that `request_uri` to `/oauth2/auth`.
 *
 * Where they live: a database table (`pushed_authorization_requests`, migration 0010), not a sealed
 * value inside the urn. A sealed urn would carry the whole request (a request object alone may be
 * 64 KB) through the browser's address bar, and making it single-use would need a table anyway;
 * with the table every node of a cluster redeems what any node issued, and spending one is one
 * DELETE that only one node can win. The table holds the SHA-256 of the urn's random part (a stolen
 * table yields no usable `request_uri`) and the parameters sealed with `secrets.system`, bound to
 * that hash.
 *
 * Single use: RFC 9126 §4 lets a server accept a `request_uri` again when a user reloads the page;
 * here the first authorization request that presents it spends it, whatever happens next (the safe
 * reading, and RFC 9126 §4's SHOULD). The flow's later legs (back from login and consent) carry the
 * pushed parameters themselves, bound to the flow by its sealed verifiers, as after a request object.
 *
 * Parameters besides `client_id` and `request_uri` at the authorization endpoint are ignored, not
 * refused: RFC 9126 §4 builds that request as RFC 9101 §5 does, whose server uses only the
 * parameters of the referenced request.
 */

export const PUSHED_REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

const SEAL_PURPOSE = 'pushed-authorization-request';
/** 256 bits of randomness: the urn is a bearer reference to the request until it is spent. */
const ID_BYTES = 32;
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Client authentication, not part of the authorization request (RFC 9126 §2.1): never stored. */
const CLIENT_AUTHENTICATION_PARAMETERS = ['client_secret', 'client_assertion', 'client_assertion_type'] as const;
/** Only the server hands these out, in the flow's own redirects: a client may not push them. */
const FLOW_PARAMETERS = ['login_verifier', 'consent_verifier'] as const;

/** What decides how an authorization request treats pushed requests. */
export interface PushContext {
  /** The request is being pushed (`POST /oauth2/par`): a `request_uri` is refused, PAR is not required of it. */
  pushing?: boolean;
  /**
   * The request continues a flow (it brings a login or consent verifier, bound to these very
   * parameters, which only a first leg that passed every check could have led to).
   */
  continuing?: boolean;
}

export function isPushedRequestUri(value: string | undefined): value is string {
  return value?.startsWith(PUSHED_REQUEST_URI_PREFIX) === true;
}

/**
 * Whether this client's authorization requests must be pushed (globally, or by its own metadata:
 * RFC 9126 §5, §6; or by the FAPI 2.0 Security Profile, §5.3.2.2).
 */
export function pushRequired(registry: Pick<PushedRequestDeps, 'config'>, client: OAuth2Client): boolean {
  return (
    registry.config.oauth2.pushed_authorization_requests.required ||
    client.require_pushed_authorization_requests === true ||
    fapi2Applies(registry, client)
  );
}

/**
 * A pushed form as authorization request parameters: without client authentication (RFC 9126
 * §2.1), with the authenticated client's id (which a `client_id` in the form must equal).
 */
export function pushedParameters(client: OAuth2Client, params: Record<string, string>): Record<string, string> {
  if (params.client_id !== undefined && params.client_id !== client.client_id) {
    throw new InvalidRequestError('The "client_id" parameter differs from the client that authenticated.');
  }
  for (const name of FLOW_PARAMETERS) {
    if (params[name] !== undefined) throw new InvalidRequestError(`The "${name}" parameter cannot be pushed.`);
  }
  const request: Record<string, string> = { ...params, client_id: client.client_id };
  for (const name of CLIENT_AUTHENTICATION_PARAMETERS) delete request[name];
  return request;
}

/**
 * The parameters an authorization request stands for: those pushed under its `request_uri` (spent
 * now), or its own. Throws `invalid_request_uri` for a urn of ours that is unknown, spent, expired
 * or another client's, and `invalid_request` when a push was required (RFC 9126 §4) or a push
 * carries a `request_uri` (§2.1). A `request_uri` that is not ours is left to the request objects.
 */
export async function withPushedRequest(
  registry: PushedRequestDeps,
  stored: StoredClient,
  params: Record<string, string>,
  context: PushContext,
): Promise<Record<string, string>> {
  if (context.pushing) {
    if (params.request_uri !== undefined) {
      throw new InvalidRequestError('The "request_uri" parameter cannot be used in a pushed authorization request (RFC 9126 §2.1).');
    }
    return params;
  }
  if (isPushedRequestUri(params.request_uri)) return takePushedRequest(registry, stored.client.client_id, params.request_uri);
  if (!context.continuing && pushRequired(registry, stored.client)) {
    throw new InvalidRequestError(
      'Authorization requests of this client must be pushed first: send them to the pushed authorization request endpoint and use the request_uri it returns.',
    );
  }
  return params;
}

/** Stores a checked authorization request; its `request_uri` and how many seconds it may be used for. */
export async function storePushedRequest(
  registry: PushedRequestDeps,
  client: OAuth2Client,
  params: Record<string, string>,
): Promise<{ request_uri: string; expires_in: number }> {
  const id = registry.random.bytes(ID_BYTES).toString('base64url');
  const idHash = sha256Hex(id);
  const lifespan = fapi2RequestUriLifespan(registry, client, registry.config.oauth2.pushed_authorization_requests.request_uri_lifespan);
  await registry.persister.pushedRequests.insert({
    idHash,
    clientId: client.client_id,
    sealedParameters: registry.keyring.seal(SEAL_PURPOSE, JSON.stringify(params), idHash),
    expiresAt: registry.clock.now() + lifespan,
  });
  return { request_uri: `${PUSHED_REQUEST_URI_PREFIX}${id}`, expires_in: Math.max(1, Math.floor(lifespan / 1000)) };
}

async function takePushedRequest(registry: PushedRequestDeps, clientId: string, requestUri: string): Promise<Record<string, string>> {
  const id = requestUri.slice(PUSHED_REQUEST_URI_PREFIX.length);
  if (!ID_SHAPE.test(id)) throw new InvalidRequestUriError('The request_uri was not issued by this server.');
  const idHash = sha256Hex(id);
  // Spent here, before anything else is checked: a request_uri is good for one authorization request.
  const record = await registry.persister.pushedRequests.take(idHash, clientId);
  if (!record) {
    throw new InvalidRequestUriError('The request_uri is unknown, was already used, or was pushed by another client.');
  }
  if (record.expiresAt <= registry.clock.now()) throw new InvalidRequestUriError('The request_uri has expired.');
  const opened = registry.keyring.open(SEAL_PURPOSE, record.sealedParameters, idHash);
  const params = opened ? parseParameters(opened.toString('utf8')) : undefined;
  if (!params) {
    throw new InvalidRequestUriError('The pushed authorization request cannot be read.', 'It does not open with secrets.system.');
  }
  return params;
}

function parseParameters(json: string): Record<string, string> | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const entries = Object.entries(value);
    return entries.every(([, item]) => typeof item === 'string') ? (Object.fromEntries(entries) as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}
