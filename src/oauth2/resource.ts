import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { InvalidTargetError } from '../http/errors.js';
import { isAbsoluteUri } from '../util/absolute-uri.js';
import { spaceSeparated } from '../util/space-separated.js';
import { audienceMatcher } from './audience.js';
import { type FormBody, list, singleValues } from './token-params.js';

/**
 * Resource indicators (RFC 8707). Hydra knows only its `audience` parameter; here the RFC is the
 * authority. A `resource` names a resource server the token is meant for; it becomes the token's
 * audience beside (the union with) the `audience` parameter:
 *
 * - each value is an absolute URI without a fragment (§2), else `invalid_target`;
 * - each must be allowed for the client: by its registered `audience` (with Hydra's audience
 *   matching, `audience.ts`) or by `oauth2.resource_indicators.allowed`, the resources any client
 *   may ask for; else `invalid_target`. (The `audience` parameter keeps Hydra's check against the
 *   client's list alone, and Hydra's `invalid_request`.);
 * - at the authorization endpoint the resources are part of the requested audience the consent app
 *   sees; at the code exchange and at refresh they narrow the new access token to some of what was
 *   granted (§2.2), each exactly one of the granted values, else `invalid_target`; the refresh token
 *   keeps the whole grant, so a later refresh may ask for another of its resources.
 *
 * `resource` may repeat (§2), and as Hydra's `audience` a value may also list several separated by
 * spaces: an absolute URI holds no space, so nothing is lost, and the authorization request's
 * parameters (one value each, as the flow state keeps them) carry the list joined by spaces.
 */

/** The parameter name, shared by both endpoints. */
export const RESOURCE = 'resource';

/** The resources of a list (repeats dropped), each checked to be a resource indicator. */
function checkedResources(values: readonly string[]): string[] {
  for (const value of values) {
    if (!isAbsoluteUri(value)) {
      throw new InvalidTargetError(`The "resource" parameter "${value}" is not an absolute URI without a fragment (RFC 8707 §2).`);
    }
  }
  return [...new Set(values)];
}

/**
 * The `resource` values of a token request (repeated or space-separated). A field sent empty
 * (`resource=`) is malformed, not absent: it names no resource server.
 */
export function resourcesOfBody(body: FormBody): string[] {
  const raw = body[RESOURCE];
  const parts = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (parts.some((part) => part.trim() === '')) throw new InvalidTargetError('The "resource" parameter is empty (RFC 8707 §2).');
  return checkedResources(list(body, RESOURCE));
}

/** The `resource` values of an authorization request's parameters (as `authorizeParameters` joined them). */
export function resourcesOfParams(params: Readonly<Record<string, string>>): string[] {
  const value = params[RESOURCE];
  if (value === undefined) return [];
  if (value.trim() === '') throw new InvalidTargetError('The "resource" parameter is empty (RFC 8707 §2).');
  return checkedResources(spaceSeparated(value));
}

/**
 * An authorization request's parameters as single values (`singleValues`), except that `resource`
 * may repeat (RFC 8707 §2): its values are kept, joined by spaces, and it is not named repeated.
 */
export function authorizeParameters(source: unknown): { params: Record<string, string>; repeated: string[] } {
  const { params, repeated } = singleValues(source);
  const raw = source && typeof source === 'object' ? (source as Record<string, unknown>)[RESOURCE] : undefined;
  if (!Array.isArray(raw)) return { params, repeated };
  const values = raw.filter((value): value is string => typeof value === 'string');
  // One empty value makes the whole parameter the empty (malformed) one, rather than vanish in the join.
  params[RESOURCE] = values.some((value) => value.trim() === '') ? '' : values.join(' ');
  return { params, repeated: repeated.filter((name) => name !== RESOURCE) };
}

/**
 * The audience a request asks for, as the flow shows it to the login and consent apps
 * (`requested_access_token_audience`): the `audience` values, then the `resource` values, without repeats.
 */
export function requestedAudience(params: Readonly<Record<string, string | undefined>>): string[] {
  return [...new Set([...spaceSeparated(params.audience), ...spaceSeparated(params[RESOURCE])])];
}

/** Whether the client may have a token for an audience: its registered `audience`, or a resource any client may ask for. */
export function clientAudienceMatcher(config: Config, client: OAuth2Client): (audience: string) => boolean {
  const byClient = audienceMatcher(client.audience);
  const byServer = audienceMatcher(config.oauth2.resource_indicators.allowed);
  return (audience) => byClient(audience) || byServer(audience);
}

/**
 * The requested audience with the requested resources added, each resource checked as allowed
 * (`audience` is checked by the caller, with Hydra's answers): the union, audience values first.
 */
export function withResources(config: Config, client: OAuth2Client, audience: readonly string[], resources: readonly string[]): string[] {
  const allows = clientAudienceMatcher(config, client);
  const denied = resources.find((resource) => !allows(resource));
  if (denied !== undefined) throw new InvalidTargetError(`The OAuth 2.0 Client is not allowed to request the resource "${denied}".`);
  return [...new Set([...audience, ...resources])];
}

/**
 * The audience of an access token issued from a grant (a code or refresh token) when the token
 * request names resources (RFC 8707 §2.2): those resources, each one the grant covers exactly; with
 * none, the whole granted audience.
 */
export function narrowedAudience(granted: readonly string[], resources: readonly string[]): string[] {
  if (resources.length === 0) return [...granted];
  const notGranted = resources.find((resource) => !granted.includes(resource));
  if (notGranted !== undefined) throw new InvalidTargetError(`The resource "${notGranted}" was not granted to this authorization grant.`);
  return [...resources];
}
