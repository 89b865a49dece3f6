import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';

type CorsSettings = Config['serve']['public']['cors'];

/** Lets another part (e.g. per-client `allowed_cors_origins`) allow an origin the global list does not. */
export type OriginCheck = (origin: string, request: FastifyRequest) => Promise<boolean>;

/**
 * CORS as Hydra's listeners answer it: a global allow-list (empty or `*` = any origin, `*` globs
 * inside an origin), optionally widened per request, and preflights answered directly.
 */
export function registerCors(app: FastifyInstance, settings: CorsSettings, extraCheck?: OriginCheck): void {
  if (!settings.enabled) return;
  const matchers = settings.allowed_origins.map(globToRegExp);
  const anyOrigin = settings.allowed_origins.length === 0 || settings.allowed_origins.includes('*');

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (!origin) return;
    reply.header('vary', 'Origin');
    const allowed = anyOrigin || matchers.some((re) => re.test(origin)) || (extraCheck ? await extraCheck(origin, request) : false);
    if (!allowed) return;
    reply.header('access-control-allow-origin', origin);
    if (settings.allow_credentials) reply.header('access-control-allow-credentials', 'true');
    const preflightMethod = request.headers['access-control-request-method'];
    if (request.method === 'OPTIONS' && preflightMethod) {
      reply.header('access-control-allow-methods', settings.allowed_methods.join(', '));
      const wanted = request.headers['access-control-request-headers'];
      if (wanted) reply.header('access-control-allow-headers', settings.allowed_headers.join(', '));
      if (settings.max_age > 0) reply.header('access-control-max-age', String(settings.max_age));
      return reply.status(204).send();
    }
    if (settings.exposed_headers.length > 0) reply.header('access-control-expose-headers', settings.exposed_headers.join(', '));
  });
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .toLowerCase()
    .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`, 'i');
}
