import { chmod, chown, lstat, readFile, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';

/** A Unix socket's owner, group and mode, and the key they are configured under (for messages). */
export interface SocketOptions {
  settings: Config['serve']['public']['socket'];
  /** `serve.public.socket`. */
  key: string;
}

const DEFAULT_SOCKET: SocketOptions = { settings: { owner: '', group: '', mode: 0o755 }, key: 'socket' };

/** The path of a `unix:/path` host (as Hydra writes one), else undefined. */
export function unixSocketPath(host: string): string | undefined {
  return host.startsWith('unix:') ? host.slice('unix:'.length) : undefined;
}

/**
 * Binds the given host, every interface (dual-stack where the machine has IPv6) when it is empty, or
 * a Unix socket for `unix:/path`, made with `socket`'s owner, group and mode.
 */
export async function listen(app: FastifyInstance, port: number, host: string, socket: SocketOptions = DEFAULT_SOCKET): Promise<void> {
  const path = unixSocketPath(host);
  if (path !== undefined) {
    await listenOnSocket(app, path, socket);
    return;
  }
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

async function listenOnSocket(app: FastifyInstance, path: string, { settings, key }: SocketOptions): Promise<void> {
  if (!path) throw new ConfigError("a `unix:` host needs the socket's path, e.g. unix:/run/portcullis/public.sock");
  // Names are resolved first: a typo stops start-up before anything is bound.
  const uid = settings.owner ? await accountId('/etc/passwd', settings.owner, `${key}.owner`) : -1;
  const gid = settings.group ? await accountId('/etc/group', settings.group, `${key}.group`) : -1;
  await removeStaleSocket(path);
  await app.listen({ path });
  await chmod(path, settings.mode);
  if (uid !== -1 || gid !== -1) await chown(path, uid, gid);
}

/**
 * A socket file left by a process that died is removed, so a restart binds again. One that still
 * answers belongs to a running process and is left alone, as is any file that is not a socket.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stats) return;
  if (!stats.isSocket()) throw new ConfigError(`unix:${path}: a file that is not a socket is in the way`);
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answered) throw new ConfigError(`unix:${path}: another process is listening on this socket`);
  await unlink(path);
}

/** A user or group id: given as a number, or looked up by name in `/etc/passwd` or `/etc/group`. */
async function accountId(file: string, name: string, key: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const entries = await readFile(file, 'utf8').catch(() => '');
  for (const line of entries.split('\n')) {
    const [entry, , id] = line.split(':');
    if (entry === name && id !== undefined && /^\d+$/.test(id)) return Number(id);
  }
  throw new ConfigError(`${key}: no entry named "${name}" in ${file}`);
}
