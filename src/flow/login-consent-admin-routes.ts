import type { FastifyRequest } from 'fastify';
import type { RouteModule } from '../http/app.js';
import { BadRequestError } from '../http/errors.js';
import type { Registry } from '../registry.js';
import { rejectionRedirect } from './common.js';
import { type AcceptConsent, acceptConsent, describeConsentRequest } from './consent.js';
import { type AcceptLogin, acceptLogin, describeLoginRequest } from './login.js';
import type { RejectedRequest } from './state.js';

const redirectSchema = { type: 'object', properties: { redirect_to: { type: 'string' } }, required: ['redirect_to'] } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;
const challengeQuery = (name: string) =>
  ({
    type: 'object',
    properties: { [name]: { type: 'string', maxLength: 16384 }, challenge: { type: 'string', maxLength: 16384 } },
  }) as const;

const acceptLoginSchema = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    remember: { type: 'boolean' },
    remember_for: { type: 'integer', minimum: 0 },
    extend_session_lifespan: { type: 'boolean' },
    acr: { type: 'string' },
    amr: stringList,
    context: {},
    force_subject_identifier: { type: 'string' },
    identity_provider_session_id: { type: 'string' },
  },
  required: ['subject'],
} as const;

const acceptConsentSchema = {
  type: 'object',
  properties: {
    grant_scope: stringList,
    grant_access_token_audience: stringList,
    remember: { type: 'boolean' },
    remember_for: { type: 'integer', minimum: 0 },
    session: {
      type: 'object',
      properties: { access_token: { type: 'object' }, id_token: { type: 'object' } },
    },
    context: {},
    handled_at: { type: 'string' },
  },
} as const;

const rejectSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    error_description: { type: 'string' },
    error_hint: { type: 'string' },
    error_debug: { type: 'string' },
    status_code: { type: 'integer' },
  },
} as const;

interface RejectBody {
  error?: string;
  error_description?: string;
  error_hint?: string;
  error_debug?: string;
  status_code?: number;
}

function challengeOf(request: FastifyRequest, name: string): string {
  const query = request.query as Record<string, string | undefined>;
  const value = query[name] ?? query.challenge;
  if (!value) throw new BadRequestError(`The "${name}" query parameter is missing.`);
  return value;
}

/** A rejection as the client will see it; the description includes the hint, as Hydra writes it. */
function rejection(body: RejectBody | undefined, fallbackDescription: string): RejectedRequest {
  return {
    error: body?.error || 'access_denied',
    error_description: [body?.error_description || fallbackDescription, body?.error_hint].filter(Boolean).join(' '),
    status_code: body?.status_code ?? 400,
  };
}

/** Hydra's headless login and consent API (`/admin/oauth2/auth/requests/{login,consent}`). */
export const loginConsentAdminRoutes: RouteModule = (app, registry: Registry) => {
  app.get('/oauth2/auth/requests/login', { schema: { querystring: challengeQuery('login_challenge') } }, async (request) =>
    describeLoginRequest(registry, challengeOf(request, 'login_challenge')),
  );
  app.put<{ Body: AcceptLogin }>(
    '/oauth2/auth/requests/login/accept',
    { schema: { querystring: challengeQuery('login_challenge'), body: acceptLoginSchema, response: { 200: redirectSchema } } },
    async (request) => ({ redirect_to: await acceptLogin(registry, challengeOf(request, 'login_challenge'), request.body) }),
  );
  app.put<{ Body: RejectBody }>(
    '/oauth2/auth/requests/login/reject',
    { schema: { querystring: challengeQuery('login_challenge'), body: rejectSchema, response: { 200: redirectSchema } } },
    async (request) => ({
      redirect_to: await rejectionRedirect(
        registry,
        'login',
        challengeOf(request, 'login_challenge'),
        rejection(request.body, 'The login request was denied.'),
      ),
    }),
  );

  app.get('/oauth2/auth/requests/consent', { schema: { querystring: challengeQuery('consent_challenge') } }, async (request) =>
    describeConsentRequest(registry, challengeOf(request, 'consent_challenge')),
  );
  app.put<{ Body: AcceptConsent }>(
    '/oauth2/auth/requests/consent/accept',
    { schema: { querystring: challengeQuery('consent_challenge'), body: acceptConsentSchema, response: { 200: redirectSchema } } },
    async (request) => ({ redirect_to: await acceptConsent(registry, challengeOf(request, 'consent_challenge'), request.body ?? {}) }),
  );
  app.put<{ Body: RejectBody }>(
    '/oauth2/auth/requests/consent/reject',
    { schema: { querystring: challengeQuery('consent_challenge'), body: rejectSchema, response: { 200: redirectSchema } } },
    async (request) => ({
      redirect_to: await rejectionRedirect(
        registry,
        'consent',
        challengeOf(request, 'consent_challenge'),
        rejection(request.body, 'The consent request was denied.'),
      ),
    }),
  );
};
