import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { MethodNotAllowedError } from '../http/errors.js';
import { pushedParameters, storePushedRequest } from './authorize/pushed-request.js';
import { AuthorizeError, parseAuthorizeRequest } from './authorize/request.js';
import { authenticateClient } from './client-auth.js';
import { checkProvenDpopJkt, offerDpopNonce, pushedRequestKey, withProvenDpopJkt } from './dpop/binding.js';
import { formBody } from './presented-token.js';
import { singleValues } from './token-params.js';

const pushedResponseSchema = {
  type: 'object',
  properties: { request_uri: { type: 'string' }, expires_in: { type: 'integer' } },
  required: ['request_uri', 'expires_in'],
} as const;

/**
 * `POST /oauth2/par`: the pushed authorization request endpoint (RFC 9126 §2), named as fosite and
 * node-oidc-provider name it. The client authenticates exactly as at the token endpoint (same
 * methods, same `invalid_client` answers, 401); then every check of the authorization endpoint runs
 * on the pushed parameters, and a failure is answered here as JSON (400), never by a redirect
 * (§2.3). A `DPoP` proof binds the code to its key, as `dpop_jkt` would (RFC 9449 §10.1). A
 * request that passes is stored (`authorize/pushed-request.ts`) and answered with 201
 * `{request_uri, expires_in}`. Any other method is 405 (§2.3); bodies over `serve.body_limit` are
 * 413 and the public rate limit's refusals 429, as on every public route.
 */
export const parEndpoint: RouteModule = (app, registry) => {
  app.post(
    '/oauth2/par',
    {
      config: { oauth: true, forms: true },
      // Error answers get `Cache-Control: no-store` from the shared error handler.
      schema: { response: { 201: pushedResponseSchema } },
    },
    async (request, reply) => {
      noStore(reply);
      const body = formBody(request);
      const client = await authenticateClient(registry, request, body);
      const provenJkt = await pushedRequestKey(registry, request, client);
      const { params, repeated } = singleValues(body);
      const pushed = withProvenDpopJkt(pushedParameters(client, params), provenJkt);
      let checked: Record<string, string>;
      try {
        checked = (await parseAuthorizeRequest(registry, pushed, repeated, { pushing: true })).params;
      } catch (error) {
        // The authorization endpoint's errors, answered to the client directly (RFC 9126 §2.3).
        throw error instanceof AuthorizeError ? error.error : error;
      }
      // After the request object is merged in: its dpop_jkt must name the proven key too.
      checkProvenDpopJkt(checked, provenJkt);
      const answer = await storePushedRequest(registry, client, checked);
      if (provenJkt) offerDpopNonce(registry, reply);
      return reply.status(201).send(answer);
    },
  );
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/oauth2/par',
    config: { oauth: true, refusal: true },
    handler: async () => {
      throw new MethodNotAllowedError('The pushed authorization request endpoint takes POST requests only.').withHeader('allow', 'POST');
    },
  });
};
