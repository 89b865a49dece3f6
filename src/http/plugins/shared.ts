import type { FastifyPluginCallback } from 'fastify';
import type { Registry } from '../../registry.js';

export type Listener = 'public' | 'admin';

/** The part of the registry the listener-wide plugins read. */
export type AppRegistry = Pick<Registry, 'config' | 'logger' | 'metrics' | 'lifecycle' | 'tracing'>;

/** What every listener-wide plugin is registered with. */
export interface ListenerOptions {
  registry: AppRegistry;
  listener: Listener;
}

/**
 * Marks a plugin as applying to the instance it is registered on, not to a child context of its own
 * (what `fastify-plugin` does): its hooks, parsers and handlers then cover every route of the listener.
 */
export function listenerWide(name: string, plugin: FastifyPluginCallback<ListenerOptions>): FastifyPluginCallback<ListenerOptions> {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: name });
}
