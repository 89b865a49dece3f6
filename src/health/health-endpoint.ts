import type { RouteModule } from '../http/app.js';
import { pendingMigrations } from '../persistence/migrator.js';
import { VERSION } from '../version.js';

const statusSchema = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const;
const notReadySchema = {
  type: 'object',
  properties: { errors: { type: 'object', additionalProperties: { type: 'string' } } },
  required: ['errors'],
} as const;

/** `/health/alive`, `/health/ready` and `/version`, served on both listeners. */
export const healthEndpoint: RouteModule = (app, registry) => {
  let migrated = false;

  app.get('/health/alive', { schema: { response: { 200: statusSchema } } }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { schema: { response: { 200: statusSchema, 503: notReadySchema } } }, async (_request, reply) => {
    const errors: Record<string, string> = {};
    if (registry.lifecycle.shuttingDown) errors.shutdown = 'The server is shutting down.';
    try {
      await registry.database.ping();
      if (!migrated) {
        const pending = await pendingMigrations(registry.database);
        if (pending.length > 0) errors.migrations = `Pending migrations: ${pending.join(', ')}. Run \`portcullis migrate sql up\`.`;
        else migrated = true;
      }
    } catch (error) {
      errors.database = `The database is not reachable: ${(error as Error).message}`;
    }
    if (Object.keys(errors).length > 0) return reply.status(503).send({ errors });
    return { status: 'ok' };
  });

  app.get(
    '/version',
    { schema: { response: { 200: { type: 'object', properties: { version: { type: 'string' } }, required: ['version'] } } } },
    async () => ({ version: VERSION }),
  );
};
