import type { BlockList } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry.js';
import { type ClientOrigins, registerCors } from './cors.js';
import { clientErrorHandler, errorHandling, frameworkErrors } from './plugins/errors.js';
import { hardening, hardeningOptions } from './plugins/hardening.js';
import { loggingOptions, observability } from './plugins/observability.js';
import { bodyParsers } from './plugins/parsers.js';
import type { Listener } from './plugins/shared.js';
import { type PemPair, terminationCheck } from './tls.js';

export type { Listener } from './plugins/shared.js';

/** A module that adds routes to a listener; each domain exports one per listener it serves. */
export type RouteModule = (app: FastifyInstance, registry: Registry) => void;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Validation failures on this route are OAuth `invalid_request` errors rather than generic 400s. */
    oauth?: boolean;
    /**
     * The route reads `application/x-www-form-urlencoded` bodies (the OAuth endpoints). Elsewhere they
     * are refused (400): a form is what a cross-site page can post without a CORS preflight.
     */
    forms?: boolean;
    /** The route only refuses its methods (405, e.g. `GET /oauth2/par`): left out of the endpoint table. */
    refusal?: boolean;
  }
}

export interface AppOptions {
  /**
   * Per-client CORS (on the public listener): whether the client a request comes from allows its
   * origin. Given by the composition root, as judging it needs the clients and tokens.
   */
  clientOrigins?: ClientOrigins;
  /** Serve HTTPS with this certificate and key (`serve.tls`); renewed later through `app.server.setSecureContext`. */
  https?: PemPair;
  /** Plain HTTP for TLS-terminating proxies in these ranges only (`serve.tls.allow_termination_from`). */
  terminatingProxies?: BlockList;
}

/**
 * A Fastify instance with what both listeners share, as plugins: logging and metrics without
 * secrets (observability), bounds on what a request may send (hardening), form and strict JSON
 * bodies (parsers), and Hydra's error JSON for every failure (errors); then CORS, then the routes.
 * Bodies are validated strictly against each route's schema.
 */
export function createApp(registry: Registry, listener: Listener, routes: RouteModule[], options: AppOptions = {}): FastifyInstance {
  const { config } = registry;
  const hardened = hardeningOptions(config.serve);
  const app = Fastify({
    ...loggingOptions(registry.logger, listener),
    ...hardened,
    // Fastify builds an HTTPS server from `https` alone, so the hardening's `http` options go in with the pair.
    ...(options.https ? { https: { ...hardened.http, ...options.https } } : {}),
    ...routingOptions(config.serve, listener),
    clientErrorHandler,
    frameworkErrors,
    // Bodies are validated as sent: a number is not silently turned into a string.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  // Before every plugin's hooks: a request no trusted proxy forwarded is answered without further work.
  if (options.terminatingProxies) app.addHook('onRequest', terminationCheck(options.terminatingProxies));
  // Registered in this order: hooks of one kind run in the order they were added.
  for (const plugin of [hardening, bodyParsers, observability, errorHandling]) void app.register(plugin, { registry, listener });
  registerCors(app, config.serve[listener].cors, options.clientOrigins);
  // Admin route modules declare `/clients`; they are served at `/admin/clients` (and, by the rewrite, at `/clients`).
  void app.register(
    async (scope) => {
      for (const register of routes) register(scope, registry);
    },
    { prefix: listener === 'admin' ? '/admin' : '' },
  );
  return app;
}

/** Trailing slashes ignored, path segments bounded; Hydra's admin listener answers `/clients` as `/admin/clients`. */
function routingOptions(serve: Config['serve'], listener: Listener) {
  return {
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: serve.max_parameter_length },
    ...(listener === 'admin' ? { rewriteUrl: (req: { url?: string }) => withAdminPrefix(req.url ?? '/') } : {}),
  };
}

function withAdminPrefix(url: string): string {
  return url === '/admin' || url.startsWith('/admin/') || url.startsWith('/admin?') ? url : `/admin${url}`;
}
