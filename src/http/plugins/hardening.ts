import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.js';
import { adminApiKeyCheck } from '../admin-auth.js';
import { BadRequestError, type HttpError, InvalidRequestError } from '../errors.js';
import { isFormRequest } from '../form-request.js';
import { rateLimitHook } from '../rate-limit.js';
import { listenerWide } from './shared.js';

/** The `serve.*` bounds every listener of ours applies, the identity UI's included. */
export type HttpLimits = Pick<Config['serve'], 'max_form_fields' | 'request_timeout' | 'max_connections'>;

/** The Fastify options that bound what a request may send and how long it may take. */
export function hardeningOptions(serve: Config['serve']) {
  const arrival = arrivalOptions(serve);
  return {
    bodyLimit: serve.body_limit,
    requestTimeout: arrival.requestTimeout,
    // Node answers a larger request line plus headers with 431 (through `clientErrorHandler`).
    http: { ...arrival.http, maxHeaderSize: serve.max_header_size },
    return503OnClosing: true,
  };
}

/**
 * How long a request may take to arrive. Fastify's default is never: bodies trickled a byte at a
 * time held their connections and buffers for good. The whole request, headers included, must
 * arrive within `serve.request_timeout`; Node looks for late ones every quarter of it, so one is
 * cut within 1.25 times the timeout. For the API listeners and the identity UI alike.
 */
export function arrivalOptions(limits: HttpLimits) {
  const timeout = limits.request_timeout;
  return {
    requestTimeout: timeout,
    http: {
      requestTimeout: timeout,
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(timeout / 4))),
    },
  };
}

/** At most `serve.max_connections` open connections: Node closes any further one as soon as it is accepted. */
export function limitConnections(app: FastifyInstance, limits: HttpLimits): void {
  app.server.maxConnections = limits.max_connections;
}

/**
 * What a hostile caller meets before any handler: the connection cap, NUL characters in URLs and
 * over-long parameters refused, the admin API keys, the public rate limit, and the headers every
 * answer carries.
 */
export const hardening = listenerWide('hardening', (app, { registry, listener }, done) => {
  const { config, lifecycle } = registry;
  limitConnections(app, config.serve);
  app.addHook('onRequest', (request, _reply, next) => {
    next(request.url.includes('%00') ? new BadRequestError('NUL characters are not allowed in URLs.') : undefined);
  });
  // Over-long parameters are refused before any handler parses or stores them.
  const maxParameter = config.serve.max_parameter_length;
  app.addHook('preValidation', (request, _reply, next) => next(parameterProblem(request, maxParameter)));
  // Bearer API keys on the admin listener (beyond Hydra; see docs/security.md).
  if (listener === 'admin' && config.serve.admin.auth.api_keys.length > 0)
    app.addHook('onRequest', adminApiKeyCheck(config.serve.admin.auth.api_keys));
  // After body parsing, so the client a request names can be read from a form body too.
  if (listener === 'public' && config.serve.public.rate_limit.enabled)
    app.addHook('preHandler', rateLimitHook(config.serve.public.rate_limit));

  app.addHook('onSend', (request, reply, payload, next) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-request-id', request.id);
    // Admin answers can carry private keys and client metadata: never cache them.
    if (listener === 'admin' && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    // While stopping, close keep-alive connections after their response so shutdown need not wait them out.
    if (lifecycle.shuttingDown) reply.header('connection', 'close');
    next(null, payload);
  });
  done();
});

function parameterProblem(request: FastifyRequest, maxParameter: number): HttpError | undefined {
  const isForm = isFormRequest(request);
  const name =
    overlongParameter(request.query, maxParameter) ??
    overlongParameter(request.params, maxParameter) ??
    (isForm ? overlongParameter(request.body, maxParameter) : undefined);
  if (name === undefined) return undefined;
  return new InvalidRequestError(
    `The parameter "${name.slice(0, 64)}" is longer than ${maxParameter} characters (serve.max_parameter_length).`,
  );
}

/** The first parameter whose name or value is longer than `max`, in a parsed query, path or form. */
function overlongParameter(source: unknown, max: number): string | undefined {
  if (!source || typeof source !== 'object') return undefined;
  const fields = source as Record<string, unknown>;
  for (const name in fields) {
    if (name.length > max) return name;
    const value = fields[name];
    if (typeof value === 'string') {
      if (value.length > max) return name;
    } else if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'string' && item.length > max) return name;
    }
  }
  return undefined;
}
