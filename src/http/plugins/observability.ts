import { randomUUID } from 'node:crypto';
import { type FastifyBaseLogger, LogController } from 'fastify';
import type { Bindings, ChildLoggerOptions, LogFn, Logger } from 'pino';
import { traceRequests } from './request-spans.js';
import { type Listener, listenerWide } from './shared.js';

const HEALTH_PATH = /^(\/admin)?\/health\//;

/**
 * The Fastify options of a listener's logging: a request id (taken from `x-request-id`, else made),
 * request loggers made on demand, and no request logging by Fastify itself (the plugin below logs).
 */
export function loggingOptions(logger: Logger, listener: Listener) {
  return {
    loggerInstance: logger.child({ listener }) as FastifyBaseLogger,
    // Requests are logged once, by the onResponse hook below, without query strings.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyChildLogger,
  };
}

/**
 * One log line per request (method, path without query string, status, duration), the request
 * metrics, labelled by route pattern, and (with `tracing.provider` set) a span per request.
 */
export const observability = listenerWide('observability', (app, { registry, listener }, done) => {
  const { config, metrics, tracing } = registry;
  const settings = config.serve[listener];
  if (tracing) traceRequests(app, tracing, listener);
  app.addHook('onResponse', (request, reply, next) => {
    next();
    // Labelled by route pattern (never the raw URL, which would make a series per id); unmatched: "".
    const route = request.routeOptions.url ?? '';
    const method = request.method;
    metrics.httpRequests.inc({ listener, method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ listener, method, route }, reply.elapsedTime / 1000);
    if (!(request.log as Logger).isLevelEnabled('info')) return;
    if (settings.request_log.disable_for_health && HEALTH_PATH.test(request.url)) return;
    request.log.info(
      {
        method: request.method,
        path: config.log.leak_sensitive_values ? request.url : request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request completed',
    );
  });
  done();
});

/**
 * A request's logger, made only when a record is actually written: Fastify makes one per request,
 * and a pino child (with redaction) costs more than answering a token lookup. Below the configured
 * level, logging through it costs nothing.
 */
class LazyChildLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get logger(): Logger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, options);
  }

  silent(): void {}
  fatal(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('fatal')) this.logger.fatal(...args);
  }
  error(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('error')) this.logger.error(...args);
  }
  warn(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('warn')) this.logger.warn(...args);
  }
  info(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('info')) this.logger.info(...args);
  }
  debug(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('debug')) this.logger.debug(...args);
  }
  trace(...args: Parameters<LogFn>): void {
    if (this.isLevelEnabled('trace')) this.logger.trace(...args);
  }
}

function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
