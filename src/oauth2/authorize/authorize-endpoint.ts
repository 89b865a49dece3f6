import type { FastifyReply, FastifyRequest } from 'fastify';
import { openVerifier } from '../../flow/common.js';
import { decideConsent, recordConsent, startConsent } from '../../flow/consent.js';
import { startLogin, verifyLogin } from '../../flow/login.js';
import type { RouteModule } from '../../http/app.js';
import { HttpError } from '../../http/errors.js';
import type { AuthorizeDeps } from '../deps.js';
import { mintAuthorizationResponse } from '../issue.js';
import { authorizeParameters } from '../resource.js';
import { deliver, deliverError, redirectToErrorPage } from './deliver.js';
import type { AuthorizeRequest } from './model.js';
import { AuthorizeError, parseAuthorizeRequest } from './request.js';

/**
 * `GET|POST /oauth2/auth`. The same URL serves every leg of the flow: the first request goes to the
 * login app; it comes back with `login_verifier` and goes on to the consent app; it comes back with
 * `consent_verifier` and gets its code or tokens.
 */
export const authorizeEndpoint: RouteModule = (app, registry) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const { params, repeated } = authorizeParameters(request.method === 'GET' ? request.query : request.body);
    const { login_verifier: loginVerifier, consent_verifier: consentVerifier, ...original } = params;
    let authz: AuthorizeRequest | undefined;
    try {
      authz = await parseAuthorizeRequest(registry, original, repeated, { continuing: Boolean(loginVerifier || consentVerifier) });
      return await proceed(registry, request, reply, authz, loginVerifier, consentVerifier);
    } catch (error) {
      if (error instanceof AuthorizeError) {
        return error.redirect
          ? deliverError(reply, registry.config, error.redirect, error.error)
          : redirectToErrorPage(reply, registry.config, error.error);
      }
      if (error instanceof HttpError && authz) return deliverError(reply, registry.config, authz, error);
      throw error;
    }
  };
  app.get('/oauth2/auth', handler);
  // No body schema: a bodyless POST is an authorization request missing its parameters, answered
  // as such (the error page), not with a schema message.
  app.post('/oauth2/auth', { config: { forms: true } }, handler);
};

async function proceed(
  registry: AuthorizeDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  loginVerifier: string | undefined,
  consentVerifier: string | undefined,
): Promise<FastifyReply> {
  if (consentVerifier) {
    const state = openVerifier(registry, request, reply, authz, 'consent', consentVerifier);
    if (state.rejected) return deliverRejection(registry, reply, authz, state.rejected);
    // Decided and minted before the unit of work: both read the database (the client, a forced
    // subject, signing keys), and SQLite's one connection is the transaction's while it is open.
    const decision = await decideConsent(registry, authz, state);
    const { response, rows } = await mintAuthorizationResponse(registry, authz, decision);
    await registry.persister.transaction(async ({ sessions, tokens }) => {
      await recordConsent(sessions, decision);
      await tokens.insert(rows);
    });
    registry.metrics.flowsCompleted.inc({ flow: 'authorization' });
    return deliver(reply, registry.config, authz, response);
  }
  if (loginVerifier) {
    const state = verifyLogin(registry, request, reply, authz, loginVerifier);
    if (state.rejected) return deliverRejection(registry, reply, authz, state.rejected);
    return startConsent(registry, reply, authz, state);
  }
  return startLogin(registry, request, reply, authz);
}

function deliverRejection(
  registry: AuthorizeDeps,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  rejected: { error: string; error_description: string },
) {
  return deliver(reply, registry.config, authz, { error: rejected.error, error_description: rejected.error_description });
}
