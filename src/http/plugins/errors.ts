import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { databaseErrorKind } from '../../persistence/errors.js';
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
} from '../errors.js';
import { listenerWide } from './shared.js';

/**
 * Hydra's error JSON for every failure: anything a handler throws, unknown routes, and (through the
 * Fastify options `frameworkErrors` and `clientErrorHandler` below) requests that never reach a route.
 */
export const errorHandling = listenerWide('errors', (app, { registry }, done) => {
  const exposeDebug = registry.config.oauth2.expose_internal_errors;
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const failure = toHttpError(error, request);
    if (failure.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply
      .status(failure.status)
      .headers({ ...failure.headers, 'cache-control': 'no-store', pragma: 'no-cache' })
      .type('application/json; charset=utf-8')
      .send(failure.body(exposeDebug));
  });

  app.setNotFoundHandler((request, reply) => {
    const failure =
      request.method === 'OPTIONS'
        ? new MethodNotAllowedError('CORS is not enabled for this origin or route.')
        : new NotFoundError('The requested route does not exist. Make sure you are using the right path, domain, and port.');
    void reply.status(failure.status).type('application/json; charset=utf-8').send(failure.body());
  });
  done();
});

/** Malformed URL escapes and over-long path segments, answered before any route is found. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const failure =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new InvalidRequestError('A path segment is longer than serve.max_parameter_length.')
      : error.code === 'FST_ERR_BAD_URL'
        ? new BadRequestError('The URL is not valid: it contains a malformed percent-encoded sequence.')
        : new BadRequestError('The request could not be routed.');
  void reply.status(failure.status).headers({ 'cache-control': 'no-store' }).type('application/json; charset=utf-8').send(failure.body());
}

/**
 * Requests Node cannot parse as HTTP (headers over `serve.max_header_size`, malformed request lines,
 * timeouts) never reach a route: answer on the raw socket, in the same error JSON, and close it.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
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

/** A malformed request: `invalid_request` on the OAuth endpoints, the admin API's generic 400 elsewhere. */
export function malformed(request: FastifyRequest, hint: string): HttpError {
  return request.routeOptions.config?.oauth === true ? new InvalidRequestError(hint) : new BadRequestError(hint);
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
  switch (databaseErrorKind(error)) {
    // A store that was never migrated: the request can succeed once `migrate sql up` has run.
    case 'missing-table':
      return new TemporarilyUnavailableError('The database is not migrated yet: run `portcullis migrate sql up`.');
    // A row the request refers to (a client, a consent) was deleted meanwhile, e.g. by another node
    // while this one still had the client cached (`cache.ttl`): the request cannot be served, and
    // retrying it will get the proper answer (such as invalid_client) once the cache has caught up.
    case 'foreign-key':
      return malformed(request, 'The client or grant this request refers to was removed while the request was handled.');
    // Data exceptions come from input.
    case 'invalid-data':
      return malformed(request, 'The request contains a value that cannot be stored.');
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return malformed(request, error.message || 'The request could not be parsed.');
  return new ServerError('', error.message);
}
