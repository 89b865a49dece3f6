import type { RouteModule } from '../http/app.js';

/** `GET /admin/metrics/prometheus`: this node's metrics in Prometheus' text exposition format
 * (with `serve --workers`, every worker's added up). */
export const metricsAdminRoutes: RouteModule = (app, registry) => {
  app.get('/metrics/prometheus', async (_request, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await registry.nodeMetrics.render());
  });
};
