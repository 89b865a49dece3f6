import type { OAuth2Client } from '../client/model.js';
import { parseDuration } from '../config/duration.js';
import type { Config } from '../config/schema.js';

export type LifespanGrant =
  | 'authorization_code'
  | 'client_credentials'
  | 'implicit'
  | 'jwt_bearer'
  | 'refresh_token'
  | 'device_authorization'
  /** Token exchange (RFC 8693): no client lifespan field, so always `ttl.access_token`. */
  | 'token_exchange';
export type LifespanToken = 'access_token' | 'id_token' | 'refresh_token';

/**
 * How long a token lives, in ms (0 = never): the client's per-grant lifespan when set
 * (`authorization_code_grant_access_token_lifespan`, …), else the global `ttl.*`. Only the global
 * keys can mean "never" (Hydra's `ttl.refresh_token: -1`): a client lifespan of 0 (refused since,
 * but possibly stored before) falls back to the global one, and none exceeds `clients.limits.max_lifespan`.
 */
export function lifespan(config: Config, client: OAuth2Client, grant: LifespanGrant, token: LifespanToken): number {
  const own = (client as unknown as Record<string, string | null | undefined>)[`${grant}_grant_${token}_lifespan`];
  const parsed = own ? parseDuration(own) : undefined;
  if (parsed !== undefined && parsed > 0) return Math.min(parsed, config.clients.limits.max_lifespan);
  const global = config.ttl[token];
  return Math.max(global, 0);
}

/** The lifespan grant for a token endpoint grant type. */
export function lifespanGrantOf(grantType: string): LifespanGrant {
  switch (grantType) {
    case 'client_credentials':
      return 'client_credentials';
    case 'refresh_token':
      return 'refresh_token';
    case 'implicit':
      return 'implicit';
    case 'urn:ietf:params:oauth:grant-type:jwt-bearer':
      return 'jwt_bearer';
    case 'urn:ietf:params:oauth:grant-type:device_code':
      return 'device_authorization';
    default:
      return 'authorization_code';
  }
}
