/**
 * OpenTelemetry tracing with Hydra's `tracing.*` keys (issue 14 #4): spans per request on both
 * listeners, per database statement and per outbound request, exported over OTLP/HTTP (JSON) to a
 * loopback receiver; W3C trace context continued from the caller and passed on to the client's
 * `jwks_uri`. Without `tracing.provider` no tracer exists at all.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { exportJWK, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { createTracing } from '../src/observability/tracing.js';
import { tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** OTLP's span kinds, as its JSON encoding numbers them. */
const SERVER = 2;
const CLIENT = 3;
const SYSTEM_NAMES = { sqlite: 'sqlite', postgres: 'postgresql', mysql: 'mysql' } as const;

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface ExportedSpan extends OtlpSpan {
  resource: Record<string, unknown>;
  attribute(key: string): unknown;
}

const attributeValue = ({ value }: OtlpAttribute): unknown =>
  value.stringValue ?? (value.intValue === undefined ? (value.boolValue ?? value.doubleValue) : Number(value.intValue));
const attributesOf = (attributes: OtlpAttribute[]) => Object.fromEntries(attributes.map((entry) => [entry.key, attributeValue(entry)]));

/** A loopback HTTP server recording every request (headers and body), answering with what `answer` returns. */
class Recorder {
  readonly requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  private server: Server | undefined;
  base = '';
  address = '';

  constructor(private readonly answer: (url: string) => { status: number; body: string }) {}

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const url = request.url ?? '';
        this.requests.push({ method: request.method ?? '', url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const { status, body } = this.answer(url);
        response.writeHead(status, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.base = `http://${this.address}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

/** The OTLP/HTTP receiver: every span of every export to `/v1/traces`, with its resource's attributes. */
function exportedSpans(receiver: Recorder): ExportedSpan[] {
  return receiver.requests
    .filter((request) => request.url === '/v1/traces')
    .flatMap((request) => {
      const document = JSON.parse(request.body) as {
        resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      return document.resourceSpans.flatMap(({ resource, scopeSpans }) =>
        scopeSpans.flatMap(({ spans }) =>
          spans.map((span) => {
            const attributes = attributesOf(span.attributes);
            return { ...span, resource: attributesOf(resource.attributes), attribute: (key: string) => attributes[key] };
          }),
        ),
      );
    });
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A loopback `jwks_uri` serving whatever key set was last put in `keys`. */
class JwksServer extends Recorder {
  keys: JWK[] = [];
  constructor() {
    super(() => ({ status: 200, body: JSON.stringify({ keys: this.keys }) }));
  }
}

/**
 * A client_credentials token request authenticated with private_key_jwt, the key served from
 * `jwks` (so the server fetches it), sent with `headers`.
 */
async function tokenWithJwksUri(server: TestServer, jwks: JwksServer, headers: Record<string, string>) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  jwks.keys = [{ ...(await exportJWK(publicKey)), kid: 'traced-key', alg: 'ES256', use: 'sig' }];
  const created = await fetch(`${server.adminUrl}/admin/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_types: ['client_credentials'],
      scope: 'read',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks_uri: `${jwks.base}/jwks.json`,
    }),
  });
  expect(created.status).toBe(201);
  const clientId = ((await created.json()) as { client_id: string }).client_id;
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'traced-key' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(`${server.publicUrl}/oauth2/token`)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti(randomUUID())
    .sign(privateKey);
  const answer = await tokenRequest(
    server,
    { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, scope: 'read' },
    headers,
  );
  expect(answer.status).toBe(200);
  return { assertion, accessToken: answer.body.access_token as string };
}

describe.each(STORES)('tracing over OTLP/HTTP ($name)', (store) => {
  const receiver = new Recorder(() => ({ status: 200, body: '{}' }));
  const jwksServer = new JwksServer();
  let server: TestServer;

  beforeAll(async () => {
    await Promise.all([receiver.start(), jwksServer.start()]);
    server = await startTestServer(store, {
      env: {
        TRACING_PROVIDER: 'otel',
        TRACING_SERVICE_NAME: 'portcullis-under-test',
        TRACING_DEPLOYMENT_ENVIRONMENT: 'ci',
        TRACING_PROVIDERS_OTLP_SERVER_URL: receiver.address,
        TRACING_PROVIDERS_OTLP_INSECURE: 'true',
        TRACING_PROVIDERS_OTLP_AUTHORIZATION_HEADER: 'Bearer collector-credential',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([receiver.close(), jwksServer.close()]);
  });

  it('exports spans for requests on both listeners, their database statements, and the jwks_uri fetch carrying traceparent', async () => {
    // The token request continues the caller's trace.
    const callerTrace = hex(16);
    const callerSpan = hex(8);
    const { assertion, accessToken } = await tokenWithJwksUri(server, jwksServer, { traceparent: `00-${callerTrace}-${callerSpan}-01` });

    // A flow step: the authorization endpoint sends the browser to the login app.
    const codeClient = await fetch(`${server.adminUrl}/admin/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['https://rp.example/cb'] }),
    });
    const codeClientId = ((await codeClient.json()) as { client_id: string }).client_id;
    const query = new URLSearchParams({
      client_id: codeClientId,
      response_type: 'code',
      redirect_uri: 'https://rp.example/cb',
      scope: 'openid',
      state: 'traced-state-0123',
    });
    const authorize = await fetch(`${server.publicUrl}/oauth2/auth?${query}`, { redirect: 'manual' });
    expect([302, 303]).toContain(authorize.status);

    // A metrics scrape is not traced (as in Hydra).
    expect((await fetch(`${server.adminUrl}/admin/metrics/prometheus`)).status).toBe(200);

    await server.registry.tracing?.flush();
    const spans = exportedSpans(receiver);
    expect(spans.filter((span) => span.name.includes('/metrics/'))).toEqual([]);
    const exports = receiver.requests.filter((request) => request.url === '/v1/traces');
    expect(exports.length).toBeGreaterThan(0);
    for (const request of exports) {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toContain('application/json');
      expect(request.headers.authorization).toBe('Bearer collector-credential');
    }
    expect(spans[0]?.resource).toMatchObject({ 'service.name': 'portcullis-under-test', 'deployment.environment.name': 'ci' });

    // The admin listener's request, and the statement that stored the client under it.
    const createSpan = spans.find((span) => span.name === 'POST /admin/clients');
    expect(createSpan?.kind).toBe(SERVER);
    expect(createSpan?.attribute('portcullis.listener')).toBe('admin');
    expect(createSpan?.attribute('http.response.status_code')).toBe(201);
    const insert = spans.find((span) => span.name === 'INSERT clients' && span.parentSpanId === createSpan?.spanId);
    expect(insert?.kind).toBe(CLIENT);
    expect(insert?.attribute('db.system.name')).toBe(SYSTEM_NAMES[store.name]);
    expect(insert?.attribute('db.operation.name')).toBe('INSERT');
    expect(insert?.attribute('db.collection.name')).toBe('clients');

    // The token request: in the caller's trace, the caller's span its parent.
    const tokenSpan = spans.find((span) => span.name === 'POST /oauth2/token');
    expect(tokenSpan).toMatchObject({ kind: SERVER, traceId: callerTrace, parentSpanId: callerSpan });
    expect(tokenSpan?.attribute('http.route')).toBe('/oauth2/token');
    expect(tokenSpan?.attribute('http.request.method')).toBe('POST');
    expect(tokenSpan?.attribute('http.response.status_code')).toBe(200);
    expect(tokenSpan?.attribute('portcullis.listener')).toBe('public');
    const inToken = spans.filter((span) => span.traceId === callerTrace && span !== tokenSpan);
    expect(inToken.some((span) => span.name === 'SELECT clients' && span.parentSpanId === tokenSpan?.spanId)).toBe(true);
    expect(inToken.some((span) => span.attribute('db.operation.name') === 'INSERT')).toBe(true);

    // The jwks_uri fetch: a client span in that trace, whose id the fetched server received as traceparent.
    const fetchSpan = inToken.find((span) => span.kind === CLIENT && span.name === 'GET');
    expect(fetchSpan?.parentSpanId).toBe(tokenSpan?.spanId);
    expect(fetchSpan?.attribute('url.full')).toBe(`${jwksServer.base}/jwks.json`);
    expect(fetchSpan?.attribute('http.response.status_code')).toBe(200);
    expect(jwksServer.requests).toHaveLength(1);
    expect(jwksServer.requests[0]?.headers.traceparent).toBe(`00-${callerTrace}-${fetchSpan?.spanId}-01`);

    // The flow step: named by route, not by its query string.
    const authorizeSpan = spans.find((span) => span.name === 'GET /oauth2/auth');
    expect(authorizeSpan?.attribute('url.path')).toBe('/oauth2/auth');
    expect([302, 303]).toContain(authorizeSpan?.attribute('http.response.status_code'));
    expect(spans.some((span) => span.traceId === authorizeSpan?.traceId && span.name === 'SELECT clients')).toBe(true);

    // Never a value: no token, assertion, client id in a statement, state or collector credential in what was exported.
    const everything = exports.map((request) => request.body).join('\n');
    for (const secret of [accessToken, assertion, 'traced-state-0123', 'collector-credential', codeClientId]) {
      expect(everything).not.toContain(secret);
    }
    // Nothing is registered with OpenTelemetry's global API: the tracer lives in the registry only.
    expect(trace.getTracer('anyone').startSpan('probe').isRecording()).toBe(false);
  });
});

describe('tracing off (no tracing.provider)', () => {
  const jwksServer = new JwksServer();
  let server: TestServer;
  beforeAll(async () => {
    await jwksServer.start();
    server = await startTestServer(STORES[0] as (typeof STORES)[number]);
  });
  afterAll(async () => {
    await server?.close();
    await jwksServer.close();
  });

  it('sets up no tracer: no spans, no traceparent sent on', async () => {
    expect(server.config.tracing.provider).toBe('');
    expect(server.registry.tracing).toBeUndefined();
    await tokenWithJwksUri(server, jwksServer, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
    expect(jwksServer.requests).toHaveLength(1);
    expect(jwksServer.requests[0]?.headers.traceparent).toBeUndefined();
    expect(trace.getTracer('anyone').startSpan('probe').isRecording()).toBe(false);
  });
});

describe('the tracing keys', () => {
  const logged: string[] = [];
  const logger = createLogger(
    { level: 'info', format: 'json', leak_sensitive_values: false, redaction_text: '[redacted]' },
    new Writable({
      write(chunk, _encoding, done) {
        logged.push(String(chunk));
        done();
      },
    }),
  );
  const tracingOf = (env: Record<string, string>) => loadConfig({ env }).tracing;
  const started: Array<{ shutdown(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((tracing) => tracing.shutdown()));
    logged.length = 0;
  });

  it('checks addresses and ratios as Hydra writes them', () => {
    expect(tracingOf({ TRACING_PROVIDERS_OTLP_SERVER_URL: '[::1]:4318' }).providers.otlp.server_url).toBe('[::1]:4318');
    expect(tracingOf({ TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO: '0.25' }).providers.otlp.sampling.sampling_ratio).toBe(0.25);
    expect(tracingOf({}).providers.otlp.sampling.sampling_ratio).toBe(1);
    expect(tracingOf({}).providers.zipkin.sampling.sampling_ratio).toBe(0);
    for (const [name, value, problem] of [
      ['TRACING_PROVIDERS_OTLP_SERVER_URL', 'http://collector:4318', 'expected host:port'],
      ['TRACING_PROVIDERS_JAEGER_LOCAL_AGENT_ADDRESS', 'agent', 'expected host:port'],
      ['TRACING_PROVIDERS_OTLP_SERVER_URL', 'collector:99999', 'expected host:port'],
      ['TRACING_PROVIDERS_OTLP_SERVER_URL', '[not-v6]:4318', 'expected host:port'],
      ['TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO', '1.5', 'expected a number from 0 to 1'],
      ['TRACING_PROVIDERS_ZIPKIN_SAMPLING_SAMPLING_RATIO', 'half', 'expected a number from 0 to 1'],
      ['TRACING_PROVIDER', 'datadog', 'expected one of'],
    ] as const) {
      expect(() => tracingOf({ [name]: value }), `${name}=${value}`).toThrow(ConfigError);
      expect(() => tracingOf({ [name]: value }), `${name}=${value}`).toThrow(problem);
    }
  });

  it('sends OTLP over https unless insecure, and Jaeger’s spans to its host’s OTLP receiver, saying so', () => {
    const otlp = createTracing(
      tracingOf({ TRACING_PROVIDER: 'otel', TRACING_PROVIDERS_OTLP_SERVER_URL: 'collector.example:4318' }),
      logger,
    );
    started.push(otlp as NonNullable<typeof otlp>);
    expect(otlp?.destination).toBe('https://collector.example:4318/v1/traces');
    const jaeger = createTracing(
      tracingOf({ TRACING_PROVIDER: 'jaeger', TRACING_PROVIDERS_JAEGER_LOCAL_AGENT_ADDRESS: '[::1]:6831' }),
      logger,
    );
    started.push(jaeger as NonNullable<typeof jaeger>);
    expect(jaeger?.destination).toBe('http://[::1]:4318/v1/traces');
    expect(logged.some((line) => line.includes('Jaeger’s agent protocol (UDP) is not spoken here'))).toBe(true);
    expect(createTracing(tracingOf({}), logger)).toBeUndefined();
  });

  it('logs a collector that is down once, and still shuts down cleanly', async () => {
    const tracing = createTracing(
      tracingOf({ TRACING_PROVIDER: 'otel', TRACING_PROVIDERS_OTLP_SERVER_URL: '127.0.0.1:1', TRACING_PROVIDERS_OTLP_INSECURE: 'true' }),
      logger,
    );
    tracing?.startSpan('lost', {}).end();
    await expect(tracing?.shutdown()).resolves.toBeUndefined();
    expect(logged.filter((line) => line.includes('spans could not be exported'))).toHaveLength(1);
  }, 15_000);

  it('exports to Zipkin’s span API', async () => {
    const zipkin = await new Recorder(() => ({ status: 202, body: '' })).start();
    try {
      const tracing = createTracing(
        tracingOf({
          TRACING_PROVIDER: 'zipkin',
          TRACING_PROVIDERS_ZIPKIN_SERVER_URL: `${zipkin.base}/api/v2/spans`,
          TRACING_PROVIDERS_ZIPKIN_SAMPLING_SAMPLING_RATIO: '1',
        }),
        logger,
      );
      if (!tracing) throw new Error('zipkin tracing was not set up');
      started.push(tracing);
      tracing.startSpan('zipkin-probe', {}).end();
      await tracing.flush();
      expect(zipkin.requests.map((request) => request.url)).toEqual(['/api/v2/spans']);
      const [span] = JSON.parse(zipkin.requests[0]?.body ?? '[]') as Array<{ name: string; localEndpoint: { serviceName: string } }>;
      expect(span?.name).toBe('zipkin-probe');
      expect(span?.localEndpoint.serviceName).toBe('Portcullis');
    } finally {
      await zipkin.close();
    }
  });
});
