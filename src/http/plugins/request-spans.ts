import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Tracing } from '../../observability/tracing.js';
import type { Listener } from './shared.js';

/** Metrics scrapes are not traced, as in Hydra: they would be most of the traces and tell nothing. */
const UNTRACED_ROUTES = /^\/admin\/metrics\//;

/**
 * One server span per request, named by method and route pattern (`POST /oauth2/token`; never the
 * raw URL, so ids do not make a name each), continuing the caller's trace when it sends a
 * `traceparent`. The rest of the request runs with the span active, so the database statements and
 * outbound requests it causes are its children. A request refused before this hook (an admin API
 * key, a NUL in the URL) still gets its span when it is answered. Metrics scrapes get none.
 */
export function traceRequests(app: FastifyInstance, tracing: Tracing, listener: Listener): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  const start = (request: FastifyRequest, startTime?: number): Span => {
    const route = request.routeOptions.url;
    return tracing.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        ...(startTime === undefined ? {} : { startTime }),
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          // The query string may carry credentials and challenges; the path does not.
          [ATTR_URL_PATH]: request.url.split('?')[0],
          'portcullis.listener': listener,
          ...(route ? { [ATTR_HTTP_ROUTE]: route } : {}),
        },
      },
      tracing.callerContext(request.headers),
    );
  };

  const traced = (request: FastifyRequest) => !UNTRACED_ROUTES.test(request.routeOptions.url ?? '');

  app.addHook('onRequest', (request, _reply, done) => {
    if (!traced(request)) return done();
    const span = start(request);
    spans.set(request, span);
    tracing.runWithin(span, done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    done();
    if (!traced(request)) return;
    const span = spans.get(request) ?? start(request, performance.timeOrigin + performance.now() - reply.elapsedTime);
    const status = reply.statusCode;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // A server span is failed by the server's errors only; a 4xx is the caller's.
    if (status >= 500) span.setAttribute(ATTR_ERROR_TYPE, String(status)).setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  app.addHook('onRequestAbort', (request, done) => {
    done();
    const span = spans.get(request);
    span?.setAttribute(ATTR_ERROR_TYPE, 'aborted').setStatus({ code: SpanStatusCode.ERROR });
    span?.end();
  });
}
