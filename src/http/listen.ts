import type { FastifyInstance } from 'fastify';

/** Binds the given host, or every interface (dual-stack where the machine has IPv6). */
export async function listen(app: FastifyInstance, port: number, host: string): Promise<void> {
  if (host) {
    await app.listen({ port, host });
    return;
  }
  try {
    await app.listen({ port, host: '::' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    await app.listen({ port, host: '0.0.0.0' });
  }
}

/**
 * Stops the apps accepting, lets requests in flight finish, and after `deadlineMs` cuts the
 * connections still open, so a stuck client cannot hold a shutdown forever.
 */
export async function closeWithin(apps: FastifyInstance[], deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      for (const app of apps) app.server.closeAllConnections();
      resolve();
    }, deadlineMs);
  });
  await Promise.race([Promise.all(apps.map((app) => app.close())), timeout]);
  clearTimeout(timer);
}
