import type { Logger } from '../observability/logger.js';
import { type BackchannelEvent, createDemoApp, type DemoOptions } from './app.js';

export type { DemoOptions } from './app.js';

export interface RunningDemo {
  url: string;
  events: BackchannelEvent[];
  close(): Promise<void>;
}

/** Starts the demo relying party on its own port. */
export async function startDemo(options: DemoOptions & { port: number; host?: string }, logger: Logger): Promise<RunningDemo> {
  const { app, events } = createDemoApp(options);
  await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  logger.info({ url: options.publicUrl }, 'demo app ready');
  return { url: options.publicUrl, events, close: () => app.close() };
}
