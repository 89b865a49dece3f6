import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';

type CorsSettings = Config['serve']['public']['cors'];

/**
 * Per-client CORS (Hydra's `oauth2cors`): on some routes, an origin the global list does not allow
 * is still allowed when the client the request comes from lists it.
 */
export interface ClientOrigins {
  /** Whether the request is for a route where a client's own origins count. */
  appliesTo(request: FastifyRequest): boolean;
  /** Whether the client the request comes from allows `origin`; called once the body has been read. */
  allows(origin: string, request: FastifyRequest): Promise<boolean>;
}

/**
 * CORS as Hydra's listeners answer it: a global allow-list (empty or `*` = any origin, `*` globs
 * inside an origin) on every route, preflights answered directly, and optionally per-client origins.
 */
export function registerCors(app: FastifyInstance, settings: CorsSettings, clientOrigins?: ClientOrigins): void {
  if (!settings.enabled) return;
  const matchers = settings.allowed_origins.map(globToRegExp);
  const anyOrigin = settings.allowed_origins.length === 0 || settings.allowed_origins.includes('*');
  const globallyAllowed = (origin: string) => anyOrigin || matchers.some((re) => re.test(origin));

  const allow = (reply: FastifyReply, origin: string): void => {
    reply.header('access-control-allow-origin', origin);
    if (settings.allow_credentials) reply.header('access-control-allow-credentials', 'true');
    if (settings.exposed_headers.length > 0) reply.header('access-control-expose-headers', settings.exposed_headers.join(', '));
  };
  // `cors.debug`: each decision logged with the origin, as Hydra's CORS handler prints them.
  const decided = (request: FastifyRequest, origin: string, decision: string): void => {
    if (settings.debug) request.log.info({ origin, method: request.method, path: request.url.split('?')[0] }, `CORS: ${decision}`);
  };
  const answerPreflight = (request: FastifyRequest, reply: FastifyReply, origin: string): FastifyReply | undefined => {
    reply.header('access-control-allow-origin', origin);
    if (settings.allow_credentials) reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-allow-methods', settings.allowed_methods.join(', '));
    if (request.headers['access-control-request-headers'])
      reply.header('access-control-allow-headers', settings.allowed_headers.join(', '));
    if (settings.max_age > 0) reply.header('access-control-max-age', String(settings.max_age));
    // `options_passthrough`: the route answers the OPTIONS request, with the headers above.
    if (settings.options_passthrough) {
      decided(request, origin, 'preflight allowed and passed on to the route');
      return undefined;
    }
    decided(request, origin, 'preflight allowed and answered');
    return reply.status(204).send();
  };

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (!origin) return;
    reply.header('vary', 'Origin');
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (globallyAllowed(origin)) {
      if (preflight) return answerPreflight(request, reply, origin);
      decided(request, origin, 'origin allowed');
      allow(reply, origin);
      return;
    }
    // As Hydra: a preflight carries no credentials and no body, so its client cannot be known; on
    // the per-client routes every preflight is allowed, and the actual request is checked below.
    if (preflight && clientOrigins?.appliesTo(request)) return answerPreflight(request, reply, origin);
    decided(request, origin, clientOrigins?.appliesTo(request) ? 'origin not allowed globally, left to the client' : 'origin not allowed');
  });

  if (!clientOrigins) return;
  // Decided when the answer is sent, so that the client can be read from the form body (where a
  // public client's `client_id` is, RFC 6749 §4.1.3) and error answers are readable by the page too.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const origin = request.headers.origin;
    if (!origin || reply.hasHeader('access-control-allow-origin') || !clientOrigins.appliesTo(request)) return payload;
    if (await clientOrigins.allows(origin, request)) allow(reply, origin);
    return payload;
  });
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .toLowerCase()
    .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`, 'i');
}
