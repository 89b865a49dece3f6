import type { FastifyRequest } from 'fastify';
import { type HttpError, InvalidTokenError } from '../http/errors.js';
import type { StoredToken } from '../oauth2/token-store.js';
import type { BearerDeps } from './deps.js';

/** RFC 6750 §3: a 401 carrying the reason in `WWW-Authenticate` as well as in the body. */
export function bearerError(error: HttpError): HttpError {
  const { error: code, error_description } = error.body();
  const quoted = error_description.replace(/["\\]/g, "'");
  return error.withHeader('www-authenticate', `Bearer error="${code}", error_description="${quoted}"`);
}

/**
 * The active access token a resource request presents: `Authorization: Bearer …`, or (RFC 6750
 * §2.2) `access_token` in a form-encoded POST body. Never both, never a query parameter.
 */
export async function activeAccessToken(registry: BearerDeps, request: FastifyRequest): Promise<{ token: string; row: StoredToken }> {
  const header = request.headers.authorization;
  const body = request.body as Record<string, unknown> | undefined;
  const fromBody = request.method === 'POST' && typeof body?.access_token === 'string' ? body.access_token : undefined;
  let token: string | undefined;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match || fromBody !== undefined)
      throw bearerError(new InvalidTokenError('Use one Bearer token, in the Authorization header or the form body.'));
    token = match[1] as string;
  } else {
    token = fromBody;
  }
  if (!token) throw bearerError(new InvalidTokenError('The request carries no access token.'));
  const row = await registry.tokens.resolve(token, 'access_token');
  if (!row) throw bearerError(new InvalidTokenError('The access token is malformed, unknown, or was not issued by this server.'));
  if (!registry.tokens.isActive(row)) throw bearerError(new InvalidTokenError('The access token has expired or has been revoked.'));
  return { token, row };
}
