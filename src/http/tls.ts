import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { InsecureTransportError } from './errors.js';
import type { Listener } from './plugins/shared.js';

type Serve = Config['serve'];

/** How often a certificate or key file is looked at (one `stat` each) for a renewal. */
export const CERTIFICATE_POLL_MS = 1000;

/** How a listener speaks: plain HTTP, HTTPS with its own certificate, or plain HTTP behind trusted TLS-terminating proxies. */
export type Transport =
  | { readonly kind: 'plain' }
  | { readonly kind: 'https'; readonly certificate: ListenerCertificate }
  | { readonly kind: 'terminated'; readonly proxies: BlockList };

/** One PEM input, and the configuration key it came from (for messages). */
interface PemSource {
  readonly key: string;
  readonly path?: string;
  readonly base64?: string;
}

export interface PemPair {
  cert: string;
  key: string;
}

/**
 * The transport of one listener from `serve.tls` and `serve.<listener>.tls`, each key of the listener
 * winning over its shared counterpart (as Hydra reads them). A half-configured pair, unreadable
 * files or a certificate that does not match its key stop start-up: never plain HTTP by surprise.
 */
export function listenerTransport(serve: Serve, listener: Listener): Transport {
  const own = serve[listener].tls;
  const rangesKey =
    own.allow_termination_from.length > 0 ? `serve.${listener}.tls.allow_termination_from` : 'serve.tls.allow_termination_from';
  const ranges = own.allow_termination_from.length > 0 ? own.allow_termination_from : serve.tls.allow_termination_from;
  if (ranges.length > 0) return { kind: 'terminated', proxies: proxyRanges(ranges, rangesKey) };
  const cert = pemSource(serve, listener, 'cert');
  const key = pemSource(serve, listener, 'key');
  if (!cert && !key) {
    if (serve.tls.enabled || own.enabled) {
      throw new ConfigError(
        `serve.${listener}: TLS is enabled but no certificate is set; set serve.tls.cert.path and serve.tls.key.path (or their .base64 forms). Portcullis does not make a self-signed certificate as Hydra does`,
      );
    }
    return { kind: 'plain' };
  }
  if (!cert || !key) {
    const missing = cert ? 'key' : 'cert';
    throw new ConfigError(
      `${(cert ?? key)?.key} is set but no ${missing === 'key' ? 'private key' : 'certificate'} goes with it: set serve.tls.${missing}.path or serve.tls.${missing}.base64 too`,
    );
  }
  return { kind: 'https', certificate: new ListenerCertificate(listener, cert, key) };
}

/** The listener's value of `tls.<part>.base64` or `.path` (base64 first, as Hydra), else the shared one. */
function pemSource(serve: Serve, listener: Listener, part: 'cert' | 'key'): PemSource | undefined {
  for (const form of ['base64', 'path'] as const) {
    for (const [prefix, tls] of [
      [`serve.${listener}.tls`, serve[listener].tls],
      ['serve.tls', serve.tls],
    ] as const) {
      const value = tls[part][form];
      if (value) return { key: `${prefix}.${part}.${form}`, [form]: value };
    }
  }
  return undefined;
}

function proxyRanges(ranges: readonly string[], key: string): BlockList {
  const proxies = new BlockList();
  for (const range of ranges) {
    const [address = '', bits = '', ...rest] = range.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
    if (!family || rest.length > 0 || !(prefix <= (family === 'ipv4' ? 32 : 128))) {
      throw new ConfigError(`${key}: "${range}" is not a CIDR range such as 10.0.0.0/8 or fd00::/8`);
    }
    proxies.addSubnet(address, prefix, family);
  }
  return proxies;
}

/**
 * The certificate and key a listener serves. Files are looked at every `CERTIFICATE_POLL_MS` and
 * re-read when one changes, so renewing needs no restart; a new pair that cannot be used (half
 * written, mismatched) is logged and the one already served is kept.
 */
export class ListenerCertificate {
  private readonly stops: Array<() => void> = [];

  constructor(
    readonly listener: Listener,
    private readonly cert: PemSource,
    private readonly key: PemSource,
  ) {}

  /** Reads and checks the pair; throws a `ConfigError` naming the keys and files at fault. */
  load(): PemPair {
    const pair = { cert: readPem(this.cert, 'certificate'), key: readPem(this.key, 'private key') };
    try {
      createSecureContext(pair);
    } catch (error) {
      throw new ConfigError(
        `serve.${this.listener}: the certificate (${describe(this.cert)}) and private key (${describe(this.key)}) are not a usable pair: ${(error as Error).message}`,
      );
    }
    return pair;
  }

  /** Serves each renewed pair on `server`'s new connections, until `stop`. */
  watch(server: HttpsServer, logger: Logger): void {
    const paths = [...new Set([this.cert.path, this.key.path].filter((path): path is string => path !== undefined))];
    const changed = (now: Stats, before: Stats) => {
      if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
      try {
        server.setSecureContext(this.load());
        logger.info({ listener: this.listener }, 'TLS certificate reloaded');
      } catch (error) {
        logger.error(
          { listener: this.listener },
          `TLS certificate not reloaded, the previous one is still served: ${(error as Error).message}`,
        );
      }
    };
    for (const path of paths) {
      // Not persistent: the poll alone never keeps the process alive.
      watchFile(path, { interval: CERTIFICATE_POLL_MS, persistent: false }, changed);
      this.stops.push(() => unwatchFile(path, changed));
    }
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}

function describe(source: PemSource): string {
  return source.path ? `${source.key} ${source.path}` : source.key;
}

function readPem(source: PemSource, what: string): string {
  let text: string;
  if (source.path) {
    try {
      text = readFileSync(source.path, 'utf8');
    } catch (error) {
      throw new ConfigError(`${source.key}: cannot read the ${what} file ${source.path}: ${(error as Error).message}`);
    }
  } else {
    text = Buffer.from(source.base64 ?? '', 'base64').toString('utf8');
  }
  if (!text.includes('-----BEGIN ')) {
    const form = source.path ? `the file ${source.path} holds` : 'the value is';
    throw new ConfigError(`${source.key}: ${form} no PEM-encoded ${what}${source.path ? '' : ' once base64-decoded'}`);
  }
  return text;
}

const EXEMPT_PATHS = /^(\/admin)?(\/health\/(alive|ready)|\/metrics\/prometheus)(\?|$)/;

/**
 * Behind `allow_termination_from`, as Hydra: every request except health checks and metrics must come
 * from a proxy in the ranges and say it was received over HTTPS. Only the connection's own peer
 * counts: Hydra also accepts any `X-Forwarded-For` entry, which whoever sends the request writes.
 */
export function terminationCheck(proxies: BlockList) {
  return async (request: FastifyRequest): Promise<void> => {
    if (EXEMPT_PATHS.test(request.url)) return;
    const peer = peerAddress(request.socket.remoteAddress ?? '');
    if (!peer || !proxies.check(peer.address, peer.family)) {
      request.log.warn({ peer: request.socket.remoteAddress }, 'plain HTTP request from outside serve.tls.allow_termination_from refused');
      throw new InsecureTransportError('The request did not come through a proxy allowed to terminate TLS.');
    }
    const proto = request.headers['x-forwarded-proto'];
    if (proto !== 'https') {
      throw new InsecureTransportError(
        proto === undefined ? 'The X-Forwarded-Proto header is missing.' : 'Expected the X-Forwarded-Proto header to be https.',
      );
    }
  };
}

/** The peer's address and family, an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) read as IPv4. */
function peerAddress(remote: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const mapped = remote.toLowerCase().startsWith('::ffff:') ? remote.slice(7) : remote;
  if (isIPv4(mapped)) return { address: mapped, family: 'ipv4' };
  if (isIPv6(remote)) return { address: remote, family: 'ipv6' };
  return undefined;
}
