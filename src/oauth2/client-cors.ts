import type { FastifyRequest } from 'fastify';
import type { ClientOrigins } from '../http/cors.js';
import { isFormRequest } from '../http/form-request.js';
import { claimedClientId } from '../http/rate-limit.js';
import type { TokenLookupDeps } from './deps.js';

/**
 * The public routes Hydra wraps in its per-client CORS middleware (`x/oauth2cors`): token,
 * revocation, discovery, JWKS, userinfo and verifiable credentials. Elsewhere (authorization,
 * logout, registration, the fallback pages) only the global `serve.public.cors.allowed_origins` count:
 * a client's origins must not open cookie-authenticated routes to the pages of whoever registered it.
 */
const CLIENT_CORS_ROUTES: ReadonlySet<string> = new Set([
  '/oauth2/token',
  '/oauth2/revoke',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/.well-known/jwks.json',
  '/userinfo',
  '/credentials',
]);

/**
 * Per-client CORS on the public listener, as Hydra does it: an origin the global
 * `serve.public.cors.allowed_origins` does not allow is still allowed when it is listed in the
 * `allowed_cors_origins` of the client the request comes from (`*` allows any origin, and `*`
 * inside an entry matches within one dot-separated label, e.g. `https://*.example.com`).
 */
export function clientOrigins(registry: TokenLookupDeps): ClientOrigins {
  return {
    // Preflights match no route, so the path is looked at rather than the route pattern.
    appliesTo: (request) => CLIENT_CORS_ROUTES.has(pathOf(request)),
    allows: async (origin, request) => {
      try {
        const clientId = await clientIdOf(registry, request);
        if (!clientId) return false;
        const stored = await registry.clients.find(clientId);
        if (!stored) return false;
        return stored.client.allowed_cors_origins.some((allowed) => originMatches(allowed, origin));
      } catch (error) {
        request.log.warn({ err: error }, 'could not check the client’s allowed CORS origins');
        return false;
      }
    },
  };
}

function pathOf(request: FastifyRequest): string {
  const path = request.url.split('?', 1)[0] as string;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * The client a request comes from, in Hydra's order: `client_id` in the form body (a public client's
 * token request, RFC 6749 §4.1.3, or `client_secret_post`), the user of HTTP Basic credentials, then
 * the client of an active Bearer access token (header, or `access_token` in the form body). A
 * `client_id` query parameter also counts, after Basic (beyond Hydra, kept for existing callers).
 */
async function clientIdOf(registry: TokenLookupDeps, request: FastifyRequest): Promise<string | undefined> {
  const fromBody = formField(request, 'client_id');
  if (fromBody) return fromBody;
  const claimed = claimedClientId(request);
  if (claimed) return claimed;
  const bearer = /^bearer\s+(\S+)$/i.exec(request.headers.authorization?.trim() ?? '')?.[1] ?? formField(request, 'access_token');
  if (!bearer) return undefined;
  const row = await registry.tokens.resolve(bearer, 'access_token');
  return row && registry.tokens.isActive(row) ? row.clientId : undefined;
}

/** A single-valued field of a parsed form body; a repeated one names nothing (RFC 6749 §3.2: parameters must not repeat). */
function formField(request: FastifyRequest, name: string): string | undefined {
  if (!isFormRequest(request)) return undefined;
  const value = (request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** One entry of `allowed_cors_origins` against a request's Origin (case-insensitive). */
export function originMatches(allowed: string, origin: string): boolean {
  if (allowed === '*') return true;
  const want = allowed.toLowerCase();
  const have = origin.toLowerCase();
  if (!want.includes('*')) return want === have;
  const pattern = want.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '[^.]*');
  return new RegExp(`^${pattern}$`).test(have);
}
