import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidRequestError } from '../http/errors.js';
import type { TokenLookupDeps } from './deps.js';
import { formBody, resolvePresentedToken } from './presented-token.js';
import { disallowedScopes, parseScope } from './scope.js';
import { single } from './token-params.js';
import type { ActClaim, StoredToken } from './token-store.js';

/** Hydra's `introspectedOAuth2Token` (RFC 7662 §2.2). */
export interface IntrospectedToken {
  active: boolean;
  scope?: string;
  client_id?: string;
  sub?: string;
  obfuscated_subject?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  aud?: string[];
  iss?: string;
  token_type?: string;
  token_use?: string;
  ext?: Record<string, unknown>;
  /** RFC 9449 §6.2: the key a DPoP-bound access token is bound to. */
  cnf?: { jkt: string };
  /** Token exchange (RFC 8693 §4.1): the actor chain. */
  act?: ActClaim;
}

const introspectionResponseSchema = {
  type: 'object',
  properties: {
    active: { type: 'boolean' },
    scope: { type: 'string' },
    client_id: { type: 'string' },
    sub: { type: 'string' },
    obfuscated_subject: { type: 'string' },
    exp: { type: 'integer' },
    iat: { type: 'integer' },
    nbf: { type: 'integer' },
    aud: { type: 'array', items: { type: 'string' } },
    iss: { type: 'string' },
    token_type: { type: 'string' },
    token_use: { type: 'string' },
    ext: { type: 'object', additionalProperties: true },
    cnf: { type: 'object', properties: { jkt: { type: 'string' } } },
    act: { type: 'object', additionalProperties: true },
  },
  required: ['active'],
} as const;

const INACTIVE: IntrospectedToken = { active: false };

/**
 * `POST /admin/oauth2/introspect` (RFC 7662) as Hydra answers it: access and refresh tokens only;
 * anything unknown, expired, revoked or lacking one of the `scope` values asked about is
 * `{"active": false}`. `token_type_hint` is ignored: the token's own prefix or shape says what it is.
 */
export const introspectionAdminRoutes: RouteModule = (app, registry) => {
  app.post(
    '/oauth2/introspect',
    { config: { oauth: true, forms: true }, schema: { response: { 200: introspectionResponseSchema } } },
    async (request, reply) => {
      noStore(reply);
      const body = formBody(request);
      const token = single(body, 'token');
      if (token === undefined) throw new InvalidRequestError('The "token" parameter is missing.');
      const wanted = parseScope(single(body, 'scope'));
      const row = await resolvePresentedToken(registry, token);
      if (!row || !registry.tokens.isActive(row)) return INACTIVE;
      if (disallowedScopes(registry.config.strategies.scope, row.scope, wanted).length > 0) return INACTIVE;
      return introspected(registry, row);
    },
  );
};

function introspected(registry: TokenLookupDeps, row: StoredToken): IntrospectedToken {
  // No separate issue time is stored: like Hydra, `iat` is the time the grant was requested.
  const iat = Math.floor(row.requestedAt / 1000);
  const answer: IntrospectedToken = {
    active: true,
    scope: row.scope.join(' '),
    client_id: row.clientId,
    sub: row.subject,
    iat,
    nbf: iat,
    aud: row.audience,
    iss: registry.config.urls.self.issuer,
    token_type: 'Bearer',
    token_use: row.kind,
  };
  if (row.session.obfuscatedSubject) answer.obfuscated_subject = row.session.obfuscatedSubject;
  if (row.expiresAt > 0) answer.exp = Math.floor(row.expiresAt / 1000);
  if (row.session.ext && Object.keys(row.session.ext).length > 0) answer.ext = row.session.ext;
  // RFC 9449 §6.2, beyond Hydra (which has no DPoP): a bound access token says so, and names its key.
  // Only access tokens: a confidential client's refresh token shares the grant's session but is not bound.
  if (row.kind === 'access_token' && row.session.dpopJkt !== undefined) {
    answer.token_type = 'DPoP';
    answer.cnf = { jkt: row.session.dpopJkt };
  }
  if (row.session.act) answer.act = row.session.act;
  return answer;
}
