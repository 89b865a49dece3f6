import type { IncomingHttpHeaders } from 'node:http';
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_DEPLOYMENT_ENVIRONMENT_NAME, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config/schema.js';
import { VERSION } from '../version.js';
import type { Logger } from './logger.js';

export type TracingConfig = Config['tracing'];

/** Where the spans of each provider go when its address is left empty (the exporters' own defaults). */
const DEFAULT_OTLP_ADDRESS = 'localhost:4318';
const DEFAULT_JAEGER_AGENT = 'localhost:6831';
const DEFAULT_ZIPKIN_URL = 'http://localhost:9411/api/v2/spans';
/** Jaeger (1.35 and later) receives OTLP over HTTP on this port of the host its agent runs on. */
const JAEGER_OTLP_PORT = 4318;
/**
 * How long one export may take, retries included: a collector that is down or hangs must not hold
 * spans for long, nor a shutdown (which exports what is left) for more than this.
 */
const EXPORT_TIMEOUT_MS = 5000;

/**
 * OpenTelemetry tracing of this process (Hydra's `tracing.*`): the tracer provider, the context that
 * carries the active span across `await`s, and the W3C trace-context propagator. Nothing is
 * registered globally: the request hooks, the database and outbound requests receive this object
 * from the registry, and without `tracing.provider` there is none at all (`createTracing` answers
 * undefined), so tracing off costs one check per request.
 */
export class Tracing {
  private readonly tracer;
  private readonly contexts = new AsyncLocalStorageContextManager().enable();
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(
    private readonly provider: BasicTracerProvider,
    /** Where the spans go, for logs. */
    readonly destination: string,
  ) {
    this.tracer = provider.getTracer('portcullis', VERSION);
  }

  /** Starts a span, by default a child of the span active now. */
  startSpan(name: string, options: SpanOptions, parent: Context = this.contexts.active()): Span {
    return this.tracer.startSpan(name, options, parent);
  }

  /** Runs `work` with `span` active, so that the spans it starts (database, outbound) are its children. */
  runWithin<T>(span: Span, work: () => T): T {
    return this.contexts.with(trace.setSpan(this.contexts.active(), span), work);
  }

  /** The context naming the caller's span from its `traceparent` (and `tracestate`): a request continues its caller's trace. */
  callerContext(headers: IncomingHttpHeaders): Context {
    return this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }

  /** Adds `traceparent` (and `tracestate`) naming `span` to the headers of an outbound request. */
  propagate(span: Span, headers: Record<string, string>): void {
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
  }

  /** Exports the spans that have ended and wait in the batch. Never rejects: a failed export is logged and its spans dropped. */
  async flush(): Promise<void> {
    await this.provider.forceFlush().catch(() => {});
  }

  /** Exports what is left and stops; spans started afterwards are dropped. Never rejects, as `flush`. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
    this.contexts.disable();
  }
}

/** The tracing `tracing.provider` asks for, or undefined when it is empty (tracing off). */
export function createTracing(config: TracingConfig, logger: Logger): Tracing | undefined {
  if (config.provider === '') return undefined;
  const { exporter, ratio, destination } = exporterFor(config.provider, config, logger);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.service_name,
      ...(config.deployment_environment
        ? // Hydra's semantic conventions (v1.7) name it `deployment.environment`; current ones add `.name`.
          { [ATTR_DEPLOYMENT_ENVIRONMENT_NAME]: config.deployment_environment, 'deployment.environment': config.deployment_environment }
        : {}),
    }),
    // As Hydra: a caller's sampling decision is followed; new traces are sampled at the configured ratio.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    // The processor waits a little longer than the exporter tries, so that a failure is the exporter's, and logged.
    spanProcessors: [
      new BatchSpanProcessor(new LoggedExporter(exporter, destination, logger), { exportTimeoutMillis: EXPORT_TIMEOUT_MS + 1000 }),
    ],
  });
  logger.info({ provider: config.provider, destination, sampling_ratio: ratio }, 'tracing: sending spans');
  return new Tracing(provider, destination);
}

interface ChosenExporter {
  exporter: SpanExporter;
  ratio: number;
  destination: string;
}

function exporterFor(provider: Exclude<TracingConfig['provider'], ''>, config: TracingConfig, logger: Logger): ChosenExporter {
  const { otlp, jaeger, zipkin } = config.providers;
  switch (provider) {
    case 'otel': {
      const destination = `${otlp.insecure ? 'http' : 'https'}://${otlp.server_url || DEFAULT_OTLP_ADDRESS}/v1/traces`;
      const headers: Record<string, string> = otlp.authorization_header ? { Authorization: otlp.authorization_header } : {};
      return { exporter: otlpExporter(destination, headers), ratio: otlp.sampling.sampling_ratio, destination };
    }
    case 'jaeger': {
      const agent = jaeger.local_agent_address || DEFAULT_JAEGER_AGENT;
      const destination = `http://${hostOf(agent)}:${JAEGER_OTLP_PORT}/v1/traces`;
      logger.warn(
        { local_agent_address: agent, destination },
        'tracing: Jaeger’s agent protocol (UDP) is not spoken here; spans go over OTLP/HTTP to the Jaeger host’s OTLP receiver instead',
      );
      return { exporter: otlpExporter(destination, {}), ratio: jaeger.sampling.trace_id_ratio, destination };
    }
    case 'zipkin': {
      const destination = zipkin.server_url || DEFAULT_ZIPKIN_URL;
      return {
        exporter: new ZipkinExporter({ url: destination, serviceName: config.service_name }),
        ratio: zipkin.sampling.sampling_ratio,
        destination,
      };
    }
  }
}

/** OTLP over HTTP, as JSON. */
function otlpExporter(url: string, headers: Record<string, string>): SpanExporter {
  return new OTLPTraceExporter({ url, headers, timeoutMillis: EXPORT_TIMEOUT_MS });
}

/** `host:port` → `host` (a bracketed IPv6 address keeps its brackets). */
function hostOf(address: string): string {
  return address.replace(/:\d+$/, '');
}

/**
 * An exporter whose failures reach the log: OpenTelemetry reports them only to its own diagnostic
 * logger, which is silent. One warning when exports start failing, one line when they work again,
 * so that a collector that is down does not flood the log.
 */
class LoggedExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly destination: string,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.logger.info({ destination: this.destination }, 'tracing: exporting spans works again');
        this.failing = false;
      } else if (!this.failing) {
        this.failing = true;
        this.logger.warn({ destination: this.destination, err: result.error }, 'tracing: spans could not be exported; they are dropped');
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
