import type { FastifyRequest } from 'fastify';
import { InvalidRequestError } from '../http/errors.js';
import { isFormRequest } from '../http/form-request.js';
import type { TokenLookupDeps } from './deps.js';
import type { FormBody } from './token-params.js';
import type { StoredToken } from './token-store.js';

// What the introspection and revocation endpoints share: a token presented in a form body.

/** The form body of a request that must be `application/x-www-form-urlencoded` and not empty. */
export function formBody(request: FastifyRequest): FormBody {
  const body = request.body;
  if (!isFormRequest(request) || typeof body !== 'object' || body === null) {
    throw new InvalidRequestError('The request body must be a non-empty application/x-www-form-urlencoded form.');
  }
  return body as FormBody;
}

/** The access or refresh token a presented string stands for; authorization codes are never found here. */
export async function resolvePresentedToken(registry: TokenLookupDeps, token: string): Promise<StoredToken | undefined> {
  const row = await registry.tokens.resolve(token);
  return row?.kind === 'authorization_code' ? undefined : row;
}
