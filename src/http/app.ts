import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Bindings, ChildLoggerOptions, LogFn, Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { clientOrigins } from '../oauth2/client-cors.js';
import { MYSQL_DATA_CODES, MYSQL_FOREIGN_KEY_CODES, MYSQL_NO_SUCH_TABLE } from '../persistence/errors.js';
import type { Registry } from '../registry.js';
import { adminApiKeyCheck } from './admin-auth.js';
import { registerCors } from './cors.js';
import {
  BadRequestError,
  HttpError,
  InvalidRequestError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  RequestHeaderFieldsTooLargeError,
  RequestTimeoutError,
  ServerError,
  TemporarilyUnavailableError,
  UnsupportedMediaTypeError,
} from './errors.js';
import { jsonTextExceedsDepth } from './json-depth.js';
import { rateLimitHook } from './rate-limit.js';

export type Listener = 'public' | 'admin';

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
  }
}

const HEALTH_PATH = /^(\/admin)?\/health\//;

/**
 * A Fastify instance with what both listeners share: logging without secrets, Hydra's error JSON
 * for every failure, strict body validation, form and JSON-patch bodies, and CORS.
 */
export function createApp(registry: Registry, listener: Listener, routes: RouteModule[]): FastifyInstance {
  const { config } = registry;
  const settings = config.serve[listener];
  const arrival = arrivalOptions(config.serve);
  const app = Fastify({
    loggerInstance: registry.logger.child({ listener }) as FastifyBaseLogger,
    // Requests are logged once, by the onResponse hook below, without query strings.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.serve.body_limit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyChildLogger,
    return503OnClosing: true,
    // Bodies are validated as sent: a number is not silently turned into a string.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: config.serve.max_parameter_length },
    requestTimeout: arrival.requestTimeout,
    // Node answers a larger request line plus headers with 431 (through `clientErrorHandler` below).
    http: { ...arrival.http, maxHeaderSize: config.serve.max_header_size },
    clientErrorHandler,
    // Malformed URL escapes and over-long path segments, answered before any route is found.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const failure =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new InvalidRequestError('A path segment is longer than serve.max_parameter_length.')
          : error.code === 'FST_ERR_BAD_URL'
            ? new BadRequestError('The URL is not valid: it contains a malformed percent-encoded sequence.')
            : new BadRequestError('The request could not be routed.');
      void reply
        .status(failure.status)
        .headers({ 'cache-control': 'no-store' })
        .type('application/json; charset=utf-8')
        .send(failure.body());
    },
    // Hydra's admin listener answers `/clients` as `/admin/clients`.
    ...(listener === 'admin' ? { rewriteUrl: (req: { url?: string }) => withAdminPrefix(req.url ?? '/') } : {}),
  });

  limitConnections(app, config.serve);
  // Before the body is even read: a form is what a cross-site page can post without a CORS preflight.
  app.addHook('preParsing', (request, _reply, payload, done) => done(unwantedForm(request), payload));
  const maxFields = config.serve.max_form_fields;
  app.addContentTypeParser(FORM_TYPE, { parseAs: 'string' }, (request, body, done) => {
    const fields = parseForm(body as string, maxFields);
    if (fields) return done(null, fields);
    return done(malformed(request, `The form has more than ${maxFields} fields (serve.max_form_fields).`), undefined);
  });
  // JSON bodies: proto-poisoning refused, NUL characters refused (no store keeps them the same way),
  // and nesting deeper than serve.max_json_depth refused before it is parsed.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const maxDepth = config.serve.max_json_depth;
  const strictJson: typeof parseJson = (request, body, done) => {
    if ((body as string).includes('\\u0000'))
      return done(new BadRequestError('NUL characters are not allowed in request bodies.'), undefined);
    if (jsonTextExceedsDepth(body as string, maxDepth))
      return done(malformed(request, `The JSON body nests deeper than ${maxDepth} levels (serve.max_json_depth).`), undefined);
    return parseJson(request, body, done);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, strictJson);
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/, { parseAs: 'string' }, strictJson);
  app.addHook('onRequest', (request, _reply, done) => {
    done(request.url.includes('%00') ? new BadRequestError('NUL characters are not allowed in URLs.') : undefined);
  });
  // Over-long parameters are refused before any handler parses or stores them.
  const maxParameter = config.serve.max_parameter_length;
  app.addHook('preValidation', (request, _reply, done) => done(parameterProblem(request)));
  const parameterProblem = (request: FastifyRequest): HttpError | undefined => {
    const isForm = isFormRequest(request);
    const name =
      overlongParameter(request.query, maxParameter) ??
      overlongParameter(request.params, maxParameter) ??
      (isForm ? overlongParameter(request.body, maxParameter) : undefined);
    if (name === undefined) return undefined;
    return new InvalidRequestError(
      `The parameter "${name.slice(0, 64)}" is longer than ${maxParameter} characters (serve.max_parameter_length).`,
    );
  };
  // Bearer API keys on the admin listener (beyond Hydra; see docs/security.md).
  if (listener === 'admin' && config.serve.admin.auth.api_keys.length > 0)
    app.addHook('onRequest', adminApiKeyCheck(config.serve.admin.auth.api_keys));
  // After body parsing, so the client a request names can be read from a form body too.
  if (listener === 'public' && config.serve.public.rate_limit.enabled)
    app.addHook('preHandler', rateLimitHook(config.serve.public.rate_limit));

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-request-id', request.id);
    // Admin answers can carry private keys and client metadata: never cache them.
    if (listener === 'admin' && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    // While stopping, close keep-alive connections after their response so shutdown need not wait them out.
    if (registry.lifecycle.shuttingDown) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    done();
    // Labelled by route pattern (never the raw URL, which would make a series per id); unmatched: "".
    const route = request.routeOptions.url ?? '';
    const method = request.method;
    registry.metrics.httpRequests.inc({ listener, method, route, status: String(reply.statusCode) });
    registry.metrics.httpDuration.observe({ listener, method, route }, reply.elapsedTime / 1000);
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

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const failure = toHttpError(error, request);
    if (failure.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply
      .status(failure.status)
      .headers({ ...failure.headers, 'cache-control': 'no-store', pragma: 'no-cache' })
      .type('application/json; charset=utf-8')
      .send(failure.body(config.oauth2.expose_internal_errors));
  });

  app.setNotFoundHandler((request, reply) => {
    const failure =
      request.method === 'OPTIONS'
        ? new MethodNotAllowedError('CORS is not enabled for this origin or route.')
        : new NotFoundError('The requested route does not exist. Make sure you are using the right path, domain, and port.');
    void reply.status(failure.status).type('application/json; charset=utf-8').send(failure.body());
  });

  // The public listener also allows each client's own `allowed_cors_origins` (Hydra's per-client CORS).
  registerCors(app, settings.cors, listener === 'public' ? clientOrigins(registry) : undefined);
  // Admin route modules declare `/clients`; they are served at `/admin/clients` (and, by the rewrite, at `/clients`).
  void app.register(
    async (scope) => {
      for (const register of routes) register(scope, registry);
    },
    { prefix: listener === 'admin' ? '/admin' : '' },
  );
  return app;
}

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

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The `serve.*` bounds every listener of ours applies, the identity UI's included. */
export type HttpLimits = Pick<Config['serve'], 'max_form_fields' | 'request_timeout' | 'max_connections'>;

/**
 * How long a request may take to arrive. Fastify's default is never: bodies trickled a byte at a
 * time held their connections and buffers for good. The whole request, headers included, must
 * arrive within `serve.request_timeout`; Node looks for late ones every quarter of it, so one is
 * cut within 1.25 times the timeout. For the API listeners and the identity UI alike.
 */
export function arrivalOptions(limits: HttpLimits) {
  const timeout = limits.request_timeout;
  return {
    requestTimeout: timeout,
    http: {
      requestTimeout: timeout,
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(timeout / 4))),
    },
  };
}

/** At most `serve.max_connections` open connections: Node closes any further one as soon as it is accepted. */
export function limitConnections(app: FastifyInstance, limits: HttpLimits): void {
  app.server.maxConnections = limits.max_connections;
}

/**
 * A non-empty form sent to a route that takes none, refused from its headers alone. An empty one
 * (what SDKs send with a bodyless PUT) carries nothing and passes; 400 as Hydra answers.
 */
function unwantedForm(request: FastifyRequest): HttpError | undefined {
  if (!isFormRequest(request) || request.routeOptions.config?.forms === true) return undefined;
  const length = request.headers['content-length'];
  const empty = length === '0' || (length === undefined && request.headers['transfer-encoding'] === undefined);
  return empty ? undefined : new BadRequestError('This route takes JSON bodies; forms are accepted by the OAuth 2.0 endpoints only.');
}

/** A malformed request: `invalid_request` on the OAuth endpoints, the admin API's generic 400 elsewhere. */
function malformed(request: FastifyRequest, hint: string): HttpError {
  return request.routeOptions.config?.oauth === true ? new InvalidRequestError(hint) : new BadRequestError(hint);
}

/** True when the request says its body is `application/x-www-form-urlencoded` (any case, any parameters). */
export function isFormRequest(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return type !== undefined && type.length >= FORM_TYPE.length && type.slice(0, FORM_TYPE.length).toLowerCase() === FORM_TYPE;
}

/** The first parameter whose name or value is longer than `max`, in a parsed query, path or form. */
function overlongParameter(source: unknown, max: number): string | undefined {
  if (!source || typeof source !== 'object') return undefined;
  const fields = source as Record<string, unknown>;
  for (const name in fields) {
    if (name.length > max) return name;
    const value = fields[name];
    if (typeof value === 'string') {
      if (value.length > max) return name;
    } else if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'string' && item.length > max) return name;
    }
  }
  return undefined;
}

/**
 * Requests Node cannot parse as HTTP (headers over `serve.max_header_size`, malformed request lines,
 * timeouts) never reach a route: answer on the raw socket, in the same error JSON, and close it.
 */
function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const failure =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new RequestHeaderFieldsTooLargeError('The request line and headers exceed serve.max_header_size.')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RequestTimeoutError()
        : new BadRequestError('The request is not valid HTTP.');
  const body = JSON.stringify(failure.body());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? ''}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function withAdminPrefix(url: string): string {
  return url === '/admin' || url.startsWith('/admin/') || url.startsWith('/admin?') ? url : `/admin${url}`;
}

/** Maps anything thrown to the error JSON a client should see; unexpected errors become a bare 500. */
function toHttpError(error: FastifyError, request: FastifyRequest): HttpError {
  if (error instanceof HttpError) return error;
  if (error.validation) {
    const where = error.validationContext ?? 'request';
    const detail = error.validation.map((issue) => `${where}${issue.instancePath || ''} ${issue.message ?? 'is invalid'}`).join('; ');
    return malformed(request, `Invalid ${detail}.`);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('The request body exceeds the size limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError(`Content type "${request.headers['content-type'] ?? ''}" is not supported here.`);
  }
  // A store that was never migrated: the request can succeed once `migrate sql up` has run.
  if (error.code === '42P01' || error.code === MYSQL_NO_SUCH_TABLE || /no such table/i.test(error.message ?? '')) {
    return new TemporarilyUnavailableError('The database is not migrated yet: run `portcullis migrate sql up`.');
  }
  // A row the request refers to (a client, a consent) was deleted meanwhile, e.g. by another node
  // while this one still had the client cached (`cache.ttl`): the request cannot be served, and
  // retrying it will get the proper answer (such as invalid_client) once the cache has caught up.
  if (error.code === '23503' || error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || MYSQL_FOREIGN_KEY_CODES.has(error.code)) {
    return malformed(request, 'The client or grant this request refers to was removed while the request was handled.');
  }
  // PostgreSQL data exceptions (class 22: NUL bytes, bad encodings, out-of-range values) come from input.
  // MySQL's strict mode refuses such values with its own codes.
  if (typeof error.code === 'string' && (/^22[0-9A-Z]{3}$/.test(error.code) || MYSQL_DATA_CODES.has(error.code))) {
    return malformed(request, 'The request contains a value that cannot be stored.');
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return malformed(request, error.message || 'The request could not be parsed.');
  return new ServerError('', error.message);
}

/**
 * A form body as a record, a repeated field as an array of its values in order; undefined when it
 * has more than `maxFields` fields (each repetition counting), found by counting separators before
 * anything is decoded. Linear: a repetition is appended in place (copying the array of earlier
 * values each time made one `a=&a=&…` body of 120 KB hold a listener for many seconds).
 */
export function parseForm(body: string, maxFields: number): Record<string, string | string[]> | undefined {
  if (countFields(body, maxFields) > maxFields) return undefined;
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    // Own properties only: `constructor` or `toString` are fields like any other.
    if (!Object.hasOwn(out, key)) {
      // `__proto__` as a plain assignment would set the prototype instead of a field.
      if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      else out[key] = value;
      continue;
    }
    const seen = out[key] as string | string[];
    if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return out;
}

/** The non-empty `&`-separated fields of a form, counted up to `max + 1`. */
function countFields(body: string, max: number): number {
  let count = 0;
  let start = 0;
  while (start <= body.length && count <= max) {
    const end = body.indexOf('&', start);
    const stop = end === -1 ? body.length : end;
    if (stop > start) count++;
    if (end === -1) break;
    start = end + 1;
  }
  return count;
}
