import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ClientInput, type ClientResponse, clientInputSchema, clientResponseSchema, LIFESPAN_FIELDS } from '../client/model.js';
import type { StoredClient } from '../client/repository.js';
import { safeEqual, sha256Hex } from '../crypto/keyring.js';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import {
  BadRequestError,
  ForbiddenError,
  InvalidClientMetadataError,
  InvalidRequestError,
  InvalidTokenError,
  NotFoundError,
  UnauthorizedError,
} from '../http/errors.js';

/**
 * OpenID Connect Dynamic Client Registration 1.0 / RFC 7591 (`POST /oauth2/register`) and the RFC 7592
 * management protocol (`GET|PUT|DELETE /oauth2/register/{id}`), as Hydra serves them on the public
 * listener:
 *
 * - all four answer 404 unless `oidc.dynamic_client_registration.enabled`;
 * - the server chooses `client_id` and `client_secret`; `metadata`, `access_token_strategy`,
 *   `skip_consent` and `skip_logout_consent` (and, beyond Hydra, `owner` and the token lifespans)
 *   are the admin's to set, and a PUT resets them;
 * - beyond Hydra, what a registrant may register is bounded by `oidc.dynamic_client_registration.allowed_*`
 *   (scopes, audiences, grant types), in `ClientService`;
 * - management requests authenticate with `Authorization: Bearer <registration access token>`,
 *   which each PUT replaces with a new one;
 * - beyond Hydra, `oidc.dynamic_client_registration.initial_access_token` makes registration itself
 *   require a bearer token (RFC 7591 §3).
 *
 * Enablement and credentials are checked before the body is parsed, so an unauthenticated caller
 * learns nothing from how its body is judged.
 */

const REGISTER_PATH = '/oauth2/register';
const NOT_ENABLED = 'Dynamic registration is not enabled.';
const BAD_CREDENTIALS = 'The requested OAuth 2.0 client does not exist or you provided incorrect credentials.';

const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;

interface IdParams {
  id: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The client an RFC 7592 management request authenticated as, set by its `onRequest` hook. */
    registrationClient: StoredClient | null;
  }
}

export const registrationEndpoint: RouteModule = (app, registry) => {
  const { clients } = registry;
  // Per-request state lives on the request (a Fastify decorator), not in module-level maps.
  if (!app.hasRequestDecorator('registrationClient')) app.decorateRequest('registrationClient', null);

  const requireEnabled = async () => {
    if (!registry.config.oidc.dynamic_client_registration.enabled) throw new NotFoundError(NOT_ENABLED);
  };

  const requireInitialAccessToken = async (request: FastifyRequest) => {
    const expected = registry.config.oidc.dynamic_client_registration.initial_access_token;
    if (expected === '') return;
    const presented = bearerToken(request);
    // Digests compared, so that neither the token's contents nor its length leak through timing.
    if (presented === undefined || !safeEqual(sha256Hex(presented), sha256Hex(expected))) {
      throw new InvalidTokenError('Registration requires a valid initial access token.').withHeader(
        'www-authenticate',
        'Bearer error="invalid_token"',
      );
    }
  };

  const requireRegistrationToken = async (request: FastifyRequest) => {
    const token = bearerToken(request);
    const stored = token === undefined ? undefined : await clients.authenticateRegistration((request.params as IdParams).id, token);
    if (!stored) {
      throw new UnauthorizedError(BAD_CREDENTIALS).withHeader(
        'www-authenticate',
        token === undefined ? 'Bearer' : 'Bearer error="invalid_token"',
      );
    }
    request.registrationClient = stored;
  };

  /** RFC 7591 §3.1: client metadata comes as a JSON object, never as a form (or no body at all). */
  const requireJson = async (request: FastifyRequest) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (type !== 'application/json' && !/^application\/[\w.-]+\+json$/.test(type)) {
      throw new BadRequestError('The request body must be a JSON object of client metadata (Content-Type: application/json).');
    }
  };

  const current = (request: FastifyRequest): StoredClient => {
    const stored = request.registrationClient;
    if (!stored) throw new UnauthorizedError(BAD_CREDENTIALS);
    return stored;
  };

  app.post<{ Body: ClientInput }>(
    REGISTER_PATH,
    {
      onRequest: [requireEnabled, requireInitialAccessToken],
      preValidation: requireJson,
      schema: { body: clientInputSchema, response: { 201: clientResponseSchema } },
    },
    async (request, reply) => {
      const input = request.body;
      if (input.client_secret) throw new BadRequestError('It is not allowed to choose your own OAuth2 Client secret.');
      refuseAdminOnlyFields(input);
      // The server chooses the id: one sent is ignored, as Hydra does.
      const { client_id: _ignored, ...rest } = input;
      return send(reply, 201, await clients.create(rest, { selfRegistered: true }));
    },
  );

  app.get<{ Params: IdParams }>(
    `${REGISTER_PATH}/:id`,
    {
      onRequest: [requireEnabled, requireRegistrationToken],
      schema: { params: idParams, response: { 200: clientResponseSchema } },
    },
    async (request, reply) => {
      const { client } = current(request);
      return send(reply, 200, await clients.get(client.client_id));
    },
  );

  app.put<{ Params: IdParams; Body: ClientInput }>(
    `${REGISTER_PATH}/:id`,
    {
      onRequest: [requireEnabled, requireRegistrationToken],
      preValidation: requireJson,
      schema: { params: idParams, body: clientInputSchema, response: { 200: clientResponseSchema } },
    },
    async (request, reply) => {
      const input = request.body;
      if (input.client_secret) throw new ForbiddenError('It is not allowed to choose your own OAuth2 Client secret.');
      const stored = current(request);
      refuseAdminOnlyFields(input);
      const replaced = await clients.replaceRegistered(stored, input);
      // Another request rotated the token (or deleted the client) since this one authenticated.
      if (!replaced) throw new UnauthorizedError(BAD_CREDENTIALS).withHeader('www-authenticate', 'Bearer error="invalid_token"');
      return send(reply, 200, replaced);
    },
  );

  app.delete<{ Params: IdParams }>(
    `${REGISTER_PATH}/:id`,
    { onRequest: [requireEnabled, requireRegistrationToken], schema: { params: idParams } },
    async (request, reply) => {
      if (!(await clients.deleteRegistered(current(request)))) {
        throw new UnauthorizedError(BAD_CREDENTIALS).withHeader('www-authenticate', 'Bearer error="invalid_token"');
      }
      return noStore(reply.status(204)).send();
    },
  );
};

/**
 * Hydra's `ValidateDynamicRegistration`: fields only the admin API may set (`ADMIN_ONLY_FIELDS`), with
 * Hydra's error for each of its four, refused on POST and PUT alike, whatever is stored (as in Hydra:
 * a PUT resets them, so sending back a value GET showed would not keep it either). Beyond Hydra, an
 * owner and token lifespans are refused too.
 */
function refuseAdminOnlyFields(input: ClientInput): void {
  if (input.metadata !== undefined && input.metadata !== null) {
    throw new InvalidClientMetadataError('"metadata" cannot be set for dynamic client registration.');
  }
  if (input.access_token_strategy) throw new BadRequestError('It is not allowed to choose your own access token strategy.');
  if (input.skip_consent === true) throw new InvalidRequestError('"skip_consent" cannot be set for dynamic client registration.');
  if (input.skip_logout_consent === true) {
    throw new InvalidRequestError('"skip_logout_consent" cannot be set for dynamic client registration.');
  }
  if (input.owner) throw new InvalidClientMetadataError('"owner" cannot be set for dynamic client registration.');
  const lifespan = LIFESPAN_FIELDS.find((field) => input[field] !== undefined && input[field] !== null && input[field] !== '');
  if (lifespan !== undefined) {
    throw new InvalidClientMetadataError(
      `"${lifespan}" cannot be set for dynamic client registration: token lifespans are the admin's to choose.`,
    );
  }
}

/** The client as dynamic registration shows it: without the admin's `metadata`; never cached. */
function send(reply: FastifyReply, status: number, client: ClientResponse): FastifyReply {
  const { metadata: _hidden, ...shown } = client;
  return noStore(reply.status(status)).send(shown);
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1); undefined when absent or malformed. */
function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^Bearer +([\w~+/.-]+=*)$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}
