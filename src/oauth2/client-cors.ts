import type { FastifyRequest } from 'fastify';
import type { OriginCheck } from '../http/cors.js';
import type { Registry } from '../registry.js';

/**
 * Per-client CORS on the public listener, as Hydra does it: an origin the global
 * `serve.public.cors.allowed_origins` does not allow is still allowed when it is listed in the
 * `allowed_cors_origins` of the client the request comes from (`*` allows any origin, and `*`
 * inside an entry matches within one dot-separated label, e.g. `https://*.example.com`).
 *
 * The client is identified before the body is read: by the user name of HTTP Basic credentials,
 * by a `client_id` query parameter, or by the client of an active Bearer access token. Preflight
 * requests carry no credentials, so (as in Hydra) every preflight is allowed; the actual request
 * is then checked against its client.
 */
export function clientOriginCheck(registry: Registry): OriginCheck {
  return async (origin: string, request: FastifyRequest) => {
    if (request.method === 'OPTIONS') return true;
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
  };
}

async function clientIdOf(registry: Registry, request: FastifyRequest): Promise<string | undefined> {
  const authorization = request.headers.authorization?.trim() ?? '';
  const basic = /^basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
  const query = request.query as Record<string, unknown> | undefined;
  if (typeof query?.client_id === 'string' && query.client_id !== '') return query.client_id;
  const bearer = /^bearer\s+(\S+)$/i.exec(authorization);
  if (bearer) {
    const row = await registry.tokens.resolve(bearer[1] as string, 'access_token');
    if (row && registry.tokens.isActive(row)) return row.clientId;
  }
  return undefined;
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
