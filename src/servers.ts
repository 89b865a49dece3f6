import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { clientAdminRoutes } from './client/client-admin-routes.js';
import { clientSecretAdminRoutes } from './client/client-secret-admin-routes.js';
import { deviceAdminRoutes } from './flow/device-admin-routes.js';
import { fallbackPagesEndpoint } from './flow/fallback-pages-endpoint.js';
import { loginConsentAdminRoutes } from './flow/login-consent-admin-routes.js';
import { logoutAdminRoutes } from './flow/logout-admin-routes.js';
import { sessionAdminRoutes } from './flow/session-admin-routes.js';
import { healthEndpoint } from './health/health-endpoint.js';
import { createApp, type Listener, type RouteModule } from './http/app.js';
import { closeWithin, listen, unixSocketPath } from './http/listen.js';
import { type ListenerCertificate, listenerTransport } from './http/tls.js';
import { scheduleJanitor } from './janitor/schedule.js';
import { jwksEndpoint } from './jwk/jwks-endpoint.js';
import { keyAdminRoutes } from './jwk/key-admin-routes.js';
import { authorizeEndpoint } from './oauth2/authorize/authorize-endpoint.js';
import { clientOrigins } from './oauth2/client-cors.js';
import { deviceAuthorizationEndpoint } from './oauth2/device-authorization-endpoint.js';
import { deviceVerificationEndpoint } from './oauth2/device-verification-endpoint.js';
import { introspectionAdminRoutes } from './oauth2/introspection-admin-routes.js';
import { parEndpoint } from './oauth2/par-endpoint.js';
import { revocationEndpoint } from './oauth2/revocation-endpoint.js';
import { tokenAdminRoutes } from './oauth2/token-admin-routes.js';
import { tokenEndpoint } from './oauth2/token-endpoint.js';
import { trustAdminRoutes } from './oauth2/trust-admin-routes.js';
import { metricsAdminRoutes } from './observability/metrics-admin-routes.js';
import { credentialsEndpoint } from './oidc/credentials-endpoint.js';
import { discoveryEndpoint } from './oidc/discovery-endpoint.js';
import { logoutEndpoint } from './oidc/logout-endpoint.js';
import { registrationEndpoint } from './oidc/registration-endpoint.js';
import { userinfoEndpoint } from './oidc/userinfo-endpoint.js';
import type { Registry } from './registry.js';

/**
 * The composition root of the listeners: what each one serves (the route index, which
 * docs/architecture.md's endpoint table is generated from), and starting and stopping them with
 * the janitor's scheduled run. Later features add their route modules here.
 */
export const ROUTES: Record<Listener, RouteModule[]> = {
  public: [
    healthEndpoint,
    jwksEndpoint,
    discoveryEndpoint,
    authorizeEndpoint,
    parEndpoint,
    tokenEndpoint,
    deviceAuthorizationEndpoint,
    deviceVerificationEndpoint,
    revocationEndpoint,
    userinfoEndpoint,
    credentialsEndpoint,
    registrationEndpoint,
    logoutEndpoint,
    fallbackPagesEndpoint,
  ],
  admin: [
    healthEndpoint,
    clientAdminRoutes,
    clientSecretAdminRoutes,
    keyAdminRoutes,
    loginConsentAdminRoutes,
    logoutAdminRoutes,
    deviceAdminRoutes,
    sessionAdminRoutes,
    introspectionAdminRoutes,
    tokenAdminRoutes,
    trustAdminRoutes,
    metricsAdminRoutes,
  ],
};

export type Which = 'all' | Listener;

export interface RunningServers {
  /** Base URL of each started listener, e.g. `{ public: 'http://127.0.0.1:4444' }`. */
  urls: Partial<Record<Listener, string>>;
  apps: Partial<Record<Listener, FastifyInstance>>;
  /** Stops accepting, lets requests in flight finish (up to `serve.shutdown_timeout`), then returns. */
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Run the janitor on its schedule (default); `serve --workers` runs it in one worker only. */
  janitor?: boolean;
}

export async function startServers(registry: Registry, which: Which, options: ServerOptions = {}): Promise<RunningServers> {
  const listeners: Listener[] = which === 'all' ? ['public', 'admin'] : [which];
  const apps: Partial<Record<Listener, FastifyInstance>> = {};
  const urls: Partial<Record<Listener, string>> = {};
  const certificates: ListenerCertificate[] = [];
  const { serve } = registry.config;
  // Every listener's transport (certificates read and checked) before any listens, so a bad one stops start-up first.
  const transports = listeners.map((listener) => {
    const socketPath = unixSocketPath(serve[listener].host);
    const transport = listenerTransport(serve, listener);
    const https = transport.kind === 'https' && socketPath === undefined ? transport.certificate : undefined;
    return { listener, socketPath, transport, https, pair: https?.load() };
  });
  try {
    for (const { listener, socketPath, transport, https, pair } of transports) {
      const { port, host, socket } = serve[listener];
      if (socketPath !== undefined && transport.kind !== 'plain') {
        registry.logger.warn({ listener }, 'TLS settings do not apply to a Unix socket listener: it serves plain HTTP, as Hydra’s does');
      } else if (transport.kind === 'plain' && !registry.config.dev) {
        registry.logger.warn({ listener }, 'HTTPS is disabled: make sure a proxy in front of this listener terminates TLS');
      }
      const app = createApp(registry, listener, ROUTES[listener], {
        // The public listener also allows each client's own `allowed_cors_origins` (Hydra's per-client CORS).
        ...(listener === 'public' ? { clientOrigins: clientOrigins(registry) } : {}),
        ...(pair ? { https: pair } : {}),
        ...(transport.kind === 'terminated' && socketPath === undefined ? { terminatingProxies: transport.proxies } : {}),
      });
      apps[listener] = app;
      await listen(app, port, host, { settings: socket, key: `serve.${listener}.socket` });
      if (https) {
        https.watch(app.server as unknown as HttpsServer, registry.logger);
        certificates.push(https);
      }
      urls[listener] = socketPath === undefined ? listenerUrl(app, https ? 'https' : 'http', host, port) : `unix:${socketPath}`;
    }
  } catch (error) {
    for (const certificate of certificates) certificate.stop();
    await Promise.all(Object.values(apps).map((app) => app.close()));
    throw error;
  }
  const janitor = options.janitor === false ? undefined : scheduleJanitor(registry);
  return {
    urls,
    apps,
    close: async () => {
      registry.lifecycle.shuttingDown = true;
      for (const certificate of certificates) certificate.stop();
      await janitor?.stop();
      await closeWithin(Object.values(apps), registry.config.serve.shutdown_timeout);
    },
  };
}

function listenerUrl(app: FastifyInstance, scheme: 'http' | 'https', host: string, port: number): string {
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `${scheme}://${host && host !== '::' && host !== '0.0.0.0' ? host : '127.0.0.1'}:${boundPort}`;
}
