/**
 * Hostile input (issue 7): property-based requests (fast-check) against every route of both
 * listeners. The routes come from `ROUTES` in src/servers.ts, so a new route without a
 * generator below fails the suite. Every answer must be what its route's kind allows (see KINDS),
 * never a 5xx, never a stack trace, within 5 s; afterwards /health/ready is 200 and every table
 * of the store holds exactly what it held before.
 *
 * Reproduce a failure with the seed it prints: `HOSTILE_SEED=<seed> npx vitest run test/hostile-input.test.ts`.
 * `HOSTILE_RUNS` sets the number of requests per route (default 100).
 */
import { Buffer } from 'node:buffer';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import Fastify from 'fastify';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { type Kysely, sql } from 'kysely';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { Listener } from '../src/http/app.js';
import { createLogger } from '../src/observability/logger.js';
import { createRegistry } from '../src/registry.js';
import { ROUTES } from '../src/servers.js';
import { Browser, CONSENT_URL, LOGIN_URL } from './support/browser.js';
import { basicAuth, expectErrorJson, sdkJwks } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const SEED = Number(process.env.HOSTILE_SEED ?? 20_261_126);
const RUNS = Number(process.env.HOSTILE_RUNS ?? 100);
const TIMEOUT_MS = 5000;
const BODY_LIMIT = 65_536;
const MAX_PARAMETER = 4096;
const ERROR_URL = 'https://errors.test/oops';
const LOGOUT_URL = 'http://logout.test/logout';
const REDIRECT = 'https://victim.example/cb';
/** A request_uri the request-object client registered, where nothing listens. */
const UNREACHABLE_REQUEST_URI = 'http://127.0.0.1:1/request.jwt';
const ENV = {
  URLS_LOGIN: LOGIN_URL,
  URLS_CONSENT: CONSENT_URL,
  URLS_LOGOUT: LOGOUT_URL,
  URLS_ERROR: ERROR_URL,
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
  SERVE_BODY_LIMIT: String(BODY_LIMIT),
  SERVE_MAX_PARAMETER_LENGTH: String(MAX_PARAMETER),
};

// ---------------------------------------------------------------------------------------------
// The routes, as the listeners serve them

interface Route {
  listener: Listener;
  method: string;
  url: string;
}

/** Every route of `ROUTES`, registered on a bare Fastify instance that records them. */
async function enumerateRoutes(): Promise<Route[]> {
  const config = loadConfig({ env: { DSN: 'memory', SECRETS_SYSTEM: 'enumerate-routes-0123456789' }, overrides: { dev: true } });
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const registry = await createRegistry(config, createLogger(config.log, silent), { migrate: false });
  const routes: Route[] = [];
  try {
    for (const listener of ['public', 'admin'] as const) {
      const app = Fastify();
      app.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ listener, method, url: route.url });
      });
      await app.register(
        async (scope) => {
          for (const register of ROUTES[listener]) register(scope, registry);
        },
        { prefix: listener === 'admin' ? '/admin' : '' },
      );
      await app.ready();
      await app.close();
    }
  } finally {
    await registry.close();
  }
  return routes;
}

const ALL_ROUTES = await enumerateRoutes();
const routeKey = (route: Route) => `${route.listener} ${route.method} ${route.url}`;

// ---------------------------------------------------------------------------------------------
// Requests and what answers are acceptable

interface HostileRequest {
  /** Raw path and query, sent byte for byte (no normalisation of `..` or escapes). */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * - `api`: only a 4xx with Hydra's error JSON (plus the 2xx a route's `success` check allows:
 *   introspection's `{"active": false}`, revocation's empty 200 for an unknown token).
 * - `lenient`: reads and deletes of things that do not exist: a 2xx, or a 4xx error JSON.
 * - `browser`: a 302/303 to `urls.error` or to the client's redirect URI carrying `error`, a
 *   form_post page carrying `error`, or a 4xx error JSON (when the request cannot even be parsed);
 *   the logout endpoint may also end at the post-logout page (nothing to log out).
 * - `page`: a 200 HTML page, or a 4xx error JSON.
 * - `static`: health, discovery, keys, metrics: a 2xx/304 whatever the noise, or a 4xx error JSON.
 */
type Kind = 'api' | 'lenient' | 'browser' | 'page' | 'static';

interface RouteSpec {
  kind: Kind;
  gen: (f: Fixtures) => fc.Arbitrary<HostileRequest>;
  /** Checks a 2xx answer an `api` route may give. */
  success?: (answer: Answer) => void;
}

interface Fixtures {
  clientId: string;
  clientSecret: string;
  jwtClientId: string;
  jwtAssertion: string;
  registeredId: string;
  registrationToken: string;
  accessToken: string;
  refreshToken: string;
  idToken: string;
  code: string;
  loginChallenge: string;
  loginVerifier: string;
  consentChallenge: string;
  consentVerifier: string;
  logoutChallenge: string;
  /** A client registered for signed request objects (RS256, its keys, one unreachable request_uri). */
  requestObjectClientId: string;
  /** Request objects signed by that client's own key, each with a defect (foreign client, type, redirect, expiry, nesting). */
  requestObjects: string[];
  /** Hostile JWTs: `alg: none`, foreign keys, confused algorithms, broken headers. */
  jwts: string[];
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Percent-encodes every byte but unreserved characters (lone surrogates become U+FFFD). */
function enc(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
const form = (pairs: Array<[string, string]>) => pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');

const BAD_ESCAPES = ['%', '%Z', '%ZZ', '%E0%A4%A', '%C3%28', '%FF', '%C0%AF', '%ED%A0%80', '%F4%90%80%80', '%u0041', '%%32%65'];
const NASTY = [
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uFFFF',
  '..',
  '../../etc/passwd',
  '🙂',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  "' OR 1=1 --",
  '"; DROP TABLE hydra_client; --',
  '<script>alert(1)</script>',
  `$${'{'}jndi:ldap://x}`,
  '\r\nX-Injected: 1',
  '%',
  'a'.repeat(MAX_PARAMETER + 1),
  'x'.repeat(300),
  '-1',
  '1e309',
  '0x10',
  '[]',
  '{}',
];

const nasty: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  fc.integer().map(String),
);
/** An already-encoded query or path fragment: valid escapes of nasty text, or broken escapes. */
const rawNasty: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: nasty.map(enc) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...BAD_ESCAPES), fc.string({ maxLength: 6 }).map(enc)).map(([a, b]) => a + b) },
);

/** Path segments nobody stored: NUL, dot segments, escapes, unicode, very long. */
const oddId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '%00',
    '..',
    '.',
    '%2e%2e',
    '..%2F..%2Fetc%2Fpasswd',
    '%2F',
    '%5C..%5C',
    '%F0%9F%92%A9',
    '%E0%A4%A',
    '%C0%AE%C0%AE',
    '%FF%FE',
    'x'.repeat(2000),
    'x'.repeat(MAX_PARAMETER + 10),
    `${'%41'.repeat(1500)}`,
  ),
  rawNasty.filter((s) => s !== '' && !/^(victim|jwt-victim)$/.test(s)),
);

/** Noise added to any request's query string: repeated, oversized, badly escaped parameters. */
const junkQuery: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.tuple(rawNasty, rawNasty).map(([k, v]) => `${k || 'k'}=${v}`),
      fc.constantFrom('a=1&a=2&a=3', '=', '&&&', '?', 'x', `long=${'y'.repeat(MAX_PARAMETER + 1)}`, `${'k'.repeat(MAX_PARAMETER + 1)}=1`),
      fc.constantFrom(...BAD_ESCAPES).map((e) => `p=${e}`),
    ),
    { maxLength: 4 },
  )
  .map((parts) => parts.join('&'));

/** Authorization and cookie headers that authenticate nobody. */
const junkHeaders = (f: Fixtures): fc.Arbitrary<Record<string, string>> =>
  fc.record(
    {
      authorization: fc.oneof(
        fc.constantFrom('Basic', 'Basic !!!', 'Basic ====', 'Bearer', 'Bearer ', 'Negotiate abc', 'Basic Og==', 'DPoP x'),
        fc
          .constantFrom(':', 'victim', '%ZZ:%ZZ', 'victim:%E0%A4%A', ':secret', 'victim:wrong', '\u00ff:\u00ff')
          .map((pair) => `Basic ${Buffer.from(pair, 'latin1').toString('base64')}`),
        fc.constantFrom(...f.jwts).map((jwt) => `Bearer ${jwt}`),
        mutatedAscii(f.accessToken).map((token) => `Bearer ${token}`),
        // A real (unbound) access token with the DPoP scheme, and mutated ones (RFC 9449 §7).
        fc.constant(`DPoP ${f.accessToken}`),
        mutatedAscii(f.accessToken).map((token) => `DPoP ${token}`),
      ),
      // DPoP proofs (RFC 9449): hostile JWTs, junk, two proofs in one header, one far too long.
      dpop: fc.oneof(
        fc.constantFrom(...f.jwts),
        fc.constantFrom('garbage', 'a.b.c, d.e.f', `${'a'.repeat(9000)}.b.c`, '..', 'eyJ.eyJ.eyJ'),
      ),
      cookie: fc.oneof(
        fc.constantFrom(
          'ory_hydra_session=%E0%A4%A',
          'ory_hydra_session=garbage',
          'ory_hydra_session=',
          'ory_hydra_login_csrf_dev=x; ory_hydra_consent_csrf_dev=%ZZ',
          '=; ;;;',
          `ory_hydra_session=${'z'.repeat(3000)}`,
        ),
        fc
          .tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 10 }), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }))
          .map(([k, v]) => `${k.replace(/[;=\s]/g, '') || 'c'}=${v.replace(/[;\s]/g, '')}`),
      ),
      'content-type': fc.constantFrom('text/plain', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', 'a/b/c', ''),
      'x-forwarded-for': fc.constantFrom('::::', '999.999.999.999', 'unknown'),
      accept: fc.constantFrom('*/*', 'application/jwt', 'text/html', 'x/y;q=abc'),
    },
    { requiredKeys: [] },
  );

/**
 * The same bytes spelled differently: the last base64url character with other spare bits
 * (`...A` and `...B` decode alike), so a lenient decoder would accept a second spelling.
 */
function respelled(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const bytes = Buffer.from(token, 'base64url');
  for (const c of alphabet) {
    const other = token.slice(0, -1) + c;
    if (other !== token && Buffer.from(other, 'base64url').equals(bytes)) return other;
  }
  return `${token}A`;
}

/** A truncated or mutated copy of a valid token, challenge or verifier (never the original). */
function mutated(token: string): fc.Arbitrary<string> {
  const alphabet = 'AZaz09-_.~+/=%';
  return fc
    .oneof(
      fc.nat().map((i) => token.slice(0, i % Math.max(token.length, 1))),
      fc.nat().map((i) => token.slice((i % Math.max(token.length - 1, 1)) + 1)),
      fc.tuple(fc.nat(), fc.constantFrom(...alphabet)).map(([i, c]) => {
        const at = i % Math.max(token.length, 1);
        return token.slice(0, at) + c + token.slice(at + 1);
      }),
      fc.tuple(fc.nat(), fc.constantFrom('\u0000', '%00', '🙂', '.', '..', ' ', '\uD800')).map(([i, c]) => {
        const at = i % Math.max(token.length, 1);
        return token.slice(0, at) + c + token.slice(at);
      }),
      fc.constantFrom(
        `${token}x`,
        `${token}.`,
        `${token}${token}`,
        token.toUpperCase(),
        token.split('').reverse().join(''),
        token.replace(/^ory_(at|rt|ac)_/, 'ory_xx_'),
        token.split('.').reverse().join('.'),
        `${token.split('.').slice(0, 2).join('.')}.`,
        respelled(token),
      ),
    )
    .filter((candidate) => candidate !== token);
}

/** Header values travel as printable ASCII: a mutation must still differ once sanitized. */
const ascii = (value: string) => value.replace(/[^\x21-\x7e]/g, '');
const mutatedAscii = (token: string) =>
  mutated(token)
    .map(ascii)
    .filter((candidate) => candidate !== token);

/** A JSON body that no route accepts: broken syntax, invalid UTF-8, NUL, wrong shapes, too large. */
const junkJsonBody: fc.Arbitrary<{ contentType: string; body: string | Buffer }> = fc.oneof(
  fc
    .constantFrom('{', '{"client_name": ', '[{"op":', '{{{', 'nope', '', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\u0000', '[1,2')
    .map((body) => ({ contentType: 'application/json', body })),
  fc.string({ unit: 'binary', maxLength: 60 }).map((body) => ({ contentType: 'application/json', body: `{${body}` })),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({
    contentType: 'application/json',
    body: Buffer.concat([Buffer.from('{"client_name":"'), Buffer.from(bytes), Buffer.of(0xff, 0xfe, 0xc3)]),
  })),
  fc
    .constantFrom('"s"', '0', 'null', 'true', '[null]', '[[[[[[[[]]]]]]]]')
    .map((body) => ({ contentType: 'application/json', body: `${body} trailing` })),
  fc.constant({ contentType: 'application/json', body: JSON.stringify({ client_name: 'nul\u0000byte', redirect_uris: 'x' }) }),
  fc.constant({ contentType: 'application/json', body: `${'['.repeat(20_000)}` }),
  fc.constant({ contentType: 'application/json', body: JSON.stringify({ client_name: 'x'.repeat(BODY_LIMIT) }) }),
  fc
    .constantFrom(
      'application/xml',
      'text/plain',
      'multipart/form-data; boundary=zzz',
      'application/octet-stream',
      'image/png',
      'application/json-seq',
    )
    .map((contentType) => ({ contentType, body: '<a>{"client_name":"x"}</a>' })),
  fc.constant({ contentType: 'application/x-www-form-urlencoded', body: 'client_name=a&client_name=b&redirect_uris=%ZZ&scope=%E0%A4%A' }),
);

/** A form body for endpoints that take forms: junk pairs, repeated and oversized parameters, raw bytes. */
const junkForm: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc
    .array(
      fc.tuple(rawNasty, rawNasty).map(([k, v]) => `${k}=${v}`),
      { maxLength: 5 },
    )
    .map((parts) => parts.join('&')),
  fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(`token=${'t'.repeat(BODY_LIMIT + 10)}`),
  fc.constant(`token=${'t'.repeat(MAX_PARAMETER + 1)}`),
);

/** Requests combining route-specific hostile parameters with generic noise (headers, query). */
function request(path: fc.Arbitrary<string>, rest: fc.Arbitrary<Omit<HostileRequest, 'path'>>, f: Fixtures): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(path, rest, fc.option(junkQuery, { nil: undefined, freq: 3 }), fc.option(junkHeaders(f), { nil: undefined, freq: 2 }))
    .map(([p, r, query, noise]) => ({
      path: query ? `${p}${p.includes('?') ? '&' : '?'}${query}` : p,
      headers: { ...(noise ?? {}), ...(r.headers ?? {}) },
      ...(r.body === undefined ? {} : { body: r.body }),
    }));
}

const noBody = fc.constant({});
const jsonBody = (arbitrary: fc.Arbitrary<{ contentType: string; body: string | Buffer }>) =>
  arbitrary.map(({ contentType, body }) => ({ headers: { 'content-type': contentType }, body }));
const formBody = (arbitrary: fc.Arbitrary<string | Buffer>, headers: fc.Arbitrary<Record<string, string>> = fc.constant({})) =>
  fc
    .tuple(arbitrary, headers)
    .map(([body, extra]) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded', ...extra }, body }));

/** Paths with odd ids in place of every `:param` (or the given real values, for hostile bodies). */
function pathOf(route: Route, ids: fc.Arbitrary<string> = oddId): fc.Arbitrary<string> {
  const names = route.url.match(/:[A-Za-z_]+/g) ?? [];
  return fc.array(ids, { minLength: names.length, maxLength: names.length }).map((values) => {
    let path = route.url;
    for (const value of values) path = path.replace(/:[A-Za-z_]+/, value);
    return path;
  });
}

/** Form pairs and headers that authenticate (or fail to authenticate) a client. */
interface ClientAuth {
  pairs: Array<[string, string]>;
  headers: Record<string, string>;
}

/** Client authentications that fail, or succeed for a client whose grant then fails. */
const clientAuth = (f: Fixtures): fc.Arbitrary<ClientAuth> =>
  fc.oneof(
    fc.constant<ClientAuth>({ pairs: [], headers: {} }),
    fc.constant<ClientAuth>({
      pairs: [],
      headers: { authorization: basicAuth(f.clientId, f.clientSecret) },
    }),
    fc.tuple(fc.constantFrom(f.clientId, 'nobody', ''), nasty).map(([id, secret]) => ({
      pairs: [],
      headers: { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` },
    })),
    fc
      .constantFrom('Basic !!!', 'Basic', `Basic ${Buffer.from('%ZZ:%ZZ').toString('base64')}`)
      .map((authorization) => ({ pairs: [], headers: { authorization } })),
    nasty.map((secret) => ({
      pairs: [
        ['client_id', f.clientId],
        ['client_secret', secret],
      ] as Array<[string, string]>,
      headers: {},
    })),
    fc
      .tuple(fc.oneof(fc.constantFrom(...f.jwts), mutated(f.jwtAssertion)), fc.constantFrom(f.jwtClientId, f.clientId, ''), fc.boolean())
      .map(([assertion, id, withType]) => ({
        pairs: [
          ...(withType ? [['client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'] as [string, string]] : []),
          ['client_assertion', assertion] as [string, string],
          ...(id ? [['client_id', id] as [string, string]] : []),
        ],
        headers: {},
      })),
    // Two methods at once.
    fc.constant<ClientAuth>({
      pairs: [['client_secret', f.clientSecret]],
      headers: { authorization: basicAuth(f.clientId, f.clientSecret) },
    }),
  );

/** RFC 8693 §3 token type identifiers. */
const EXCHANGE_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:token-type:id_token',
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:refresh_token',
];

/** A token endpoint request no client may win with. */
/**
 * RFC 8707 `resource` values no victim may have: malformed (relative, fragment, bad escapes, no host,
 * empty), or well-formed but allowed to no client (the victims register no audience).
 */
const resourceValue: fc.Arbitrary<string> = fc.oneof(
  nasty,
  fc.constantFrom(
    'https://api.example/v1#frag',
    'relative/path',
    '/abs/path',
    'https:///nohost',
    'https://api.example/%zz',
    'urn:x:y',
    'https://evil.example/',
  ),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
);
const resources = fc.array(resourceValue, { minLength: 1, maxLength: 4 });

const tokenRequest = (f: Fixtures): fc.Arbitrary<Omit<HostileRequest, 'path'>> =>
  fc
    .tuple(
      clientAuth(f),
      fc.oneof(
        fc
          .tuple(mutated(f.code), fc.option(nasty, { nil: undefined }))
          .map(([code, verifier]) => [
            ['grant_type', 'authorization_code'],
            ['code', code],
            ['redirect_uri', REDIRECT],
            ...(verifier === undefined ? [] : [['code_verifier', verifier]]),
          ]),
        fc.constant([
          ['grant_type', 'authorization_code'],
          ['code', f.code],
          ['redirect_uri', REDIRECT],
          ['code_verifier', 'x'.repeat(43)],
        ]),
        fc.oneof(mutated(f.refreshToken), mutated(f.accessToken), fc.constant(f.accessToken), fc.constant(f.code)).map((token) => [
          ['grant_type', 'refresh_token'],
          ['refresh_token', token],
        ]),
        fc.tuple(fc.constantFrom(...f.jwts), nasty).map(([assertion, scope]) => [
          ['grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
          ['assertion', assertion],
          ['scope', scope],
        ]),
        // Token exchange (RFC 8693): forged, mutated and hostile subject and actor tokens, and any token type names.
        fc
          .tuple(
            fc.oneof(mutated(f.accessToken), mutated(f.idToken), fc.constantFrom(...f.jwts), nasty),
            fc.oneof(fc.constantFrom(...EXCHANGE_TOKEN_TYPES), nasty),
            fc.option(fc.tuple(fc.oneof(mutated(f.accessToken), fc.constantFrom(...f.jwts)), fc.constantFrom(...EXCHANGE_TOKEN_TYPES)), {
              nil: undefined,
            }),
            fc.oneof(fc.constantFrom(...EXCHANGE_TOKEN_TYPES), nasty),
            nasty,
          )
          .map(([subject, subjectType, actor, requested, target]) => [
            ['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange'],
            ['subject_token', subject],
            ['subject_token_type', subjectType],
            ...(actor
              ? [
                  ['actor_token', actor[0]],
                  ['actor_token_type', actor[1]],
                ]
              : []),
            ['requested_token_type', requested],
            ['resource', target],
            ['audience', target],
          ]),
        nasty.map((scope) => [
          ['grant_type', 'client_credentials'],
          ['scope', scope],
        ]),
        fc.tuple(nasty, nasty).map(([grant, extra]) => [
          ['grant_type', grant],
          ['password', extra],
        ]),
        fc.constant([
          ['grant_type', 'refresh_token'],
          ['grant_type', 'authorization_code'],
          ['refresh_token', f.refreshToken],
        ]),
        // The real code and refresh token with resources outside their grant: invalid_target, and nothing spent.
        resources.map((values) => [
          ['grant_type', 'authorization_code'],
          ['code', f.code],
          ['redirect_uri', REDIRECT],
          ...values.map((value) => ['resource', value]),
        ]),
        resources.map((values) => [
          ['grant_type', 'refresh_token'],
          ['refresh_token', f.refreshToken],
          ...values.map((value) => ['resource', value]),
        ]),
        fc
          .tuple(resources, nasty)
          .map(([values, audience]) => [
            ['grant_type', 'client_credentials'],
            ['audience', audience],
            ...values.map((value) => ['resource', value]),
          ]),
      ),
    )
    .map(([auth, pairs]) => ({
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
      body: form([...(pairs as Array<[string, string]>), ...auth.pairs]),
    }));

/** Tokens that are not valid: mutated real ones, hostile JWTs, junk (`header`: fit for an Authorization header). */
const badToken = (f: Fixtures, header = false): fc.Arbitrary<string> => {
  const mutation = header ? mutatedAscii : mutated;
  return fc.oneof(
    mutation(f.accessToken),
    mutation(f.refreshToken),
    fc.constantFrom(...f.jwts),
    mutation(f.idToken),
    header ? nasty.map(ascii) : nasty,
    fc.constant(f.code),
  );
};

/** A valid authorization request spoiled in at least one way, plus optional hostile extras. */
const authorizeParams = (f: Fixtures): fc.Arbitrary<Array<[string, string]>> => {
  const base: Record<string, string> = {
    client_id: f.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid',
    state: 'state-0123456789',
    nonce: 'nonce-0123456789',
  };
  const poison: fc.Arbitrary<Record<string, string | string[]>> = fc.oneof(
    nasty.map((client_id) => ({ client_id })),
    nasty.map((redirect_uri) => ({ redirect_uri })),
    nasty.filter((v) => v !== 'code').map((response_type) => ({ response_type })),
    mutated(f.loginVerifier).map((login_verifier) => ({ login_verifier })),
    mutated(f.consentVerifier).map((consent_verifier) => ({ consent_verifier })),
    fc.constant({ login_verifier: f.consentVerifier }),
    fc.constant({ consent_verifier: f.loginVerifier }),
    fc.constant({ consent_verifier: f.consentVerifier }),
    fc.constantFrom(...f.jwts, f.idToken).map((id_token_hint) => ({ id_token_hint, prompt: 'none' })),
    fc.constantFrom('bogus', 'none login', '%ZZ').map((prompt) => ({ prompt })),
    fc.constantFrom('-1', 'abc', '1e999').map((max_age) => ({ max_age })),
    fc.constantFrom('S1', 'plain-ish', '').map((code_challenge_method) => ({ code_challenge_method, code_challenge: 'short' })),
    fc.constant<Record<string, string[]>>({ client_id: [f.clientId, f.clientId] }),
    fc.constant({ state: 'x'.repeat(MAX_PARAMETER + 1) }),
    fc.constant({ response_mode: 'form_post', response_type: 'token' }),
    // Request objects for a client that registered keys, so they reach the fetch and the verification.
    {
      weight: 4,
      arbitrary: fc
        .oneof(
          fc.constantFrom(...f.jwts, ...f.requestObjects).map((request) => ({ request })),
          nasty.map((request) => ({ request })),
          fc
            .oneof(nasty, fc.constantFrom(UNREACHABLE_REQUEST_URI, 'http://169.254.169.254/latest'))
            .map((request_uri) => ({ request_uri })),
          fc.constantFrom(...f.requestObjects).map((request) => ({ request, request_uri: UNREACHABLE_REQUEST_URI })),
          fc.constant<Record<string, string[]>>({ request: [f.requestObjects[0] as string, f.requestObjects[0] as string] }),
        )
        .map((spoiled) => ({ client_id: f.requestObjectClientId, ...spoiled })),
    },
    resources.map((resource) => ({ resource })),
    // Pushed request urns (RFC 9126) that are not (or no longer) ours.
    fc
      .oneof(
        nasty,
        nasty.map((id) => `urn:ietf:params:oauth:request_uri:${id}`),
      )
      .map((request_uri) => ({ request_uri })),
  );
  const extra: fc.Arbitrary<Record<string, string>> = fc.record(
    {
      request: fc.constantFrom(...f.jwts),
      id_token_hint: fc.oneof(fc.constantFrom(...f.jwts), mutated(f.idToken)),
      claims: fc.constantFrom('{', '{"id_token":[]}', 'null'),
      ui_locales: nasty,
      acr_values: nasty,
    },
    { requiredKeys: [] },
  );
  return fc.tuple(poison, extra).map(([spoiled, more]) => {
    const merged: Record<string, string | string[]> = { ...base, ...more, ...spoiled };
    return Object.entries(merged).flatMap(([k, v]) =>
      Array.isArray(v) ? v.map((one) => [k, one] as [string, string]) : [[k, v] as [string, string]],
    );
  });
};

const logoutParams = (f: Fixtures): fc.Arbitrary<Array<[string, string]>> =>
  fc.oneof(
    fc
      .tuple(fc.oneof(fc.constantFrom(...f.jwts), mutated(f.idToken), nasty), fc.option(nasty, { nil: undefined }))
      .map(
        ([hint, uri]): Array<[string, string]> => [
          ['id_token_hint', hint],
          ...(uri === undefined ? [] : [['post_logout_redirect_uri', uri] as [string, string]]),
        ],
      ),
    fc.tuple(nasty, nasty).map(
      ([uri, state]): Array<[string, string]> => [
        ['post_logout_redirect_uri', uri],
        ['state', state],
      ],
    ),
    fc
      .oneof(mutated(f.loginVerifier), mutated(f.logoutChallenge), nasty, fc.constant(f.logoutChallenge))
      .map((verifier): Array<[string, string]> => [['logout_verifier', verifier]]),
    fc.constant<Array<[string, string]>>([
      ['id_token_hint', f.idToken],
      ['post_logout_redirect_uri', 'https://evil.example/'],
    ]),
    fc.constant<Array<[string, string]>>([
      ['state', 'a'],
      ['state', 'b'],
    ]),
  );

/** A challenge that opens nothing: mutated, of another kind, repeated, junk. */
const badChallenge = (own: string, others: string[]): fc.Arbitrary<string[]> =>
  fc.oneof(
    mutated(own).map((c) => [c]),
    fc.constantFrom(...others).map((c) => [c]),
    nasty.map((c) => [c]),
    fc.constant<string[]>([own, own]),
    fc.constant<string[]>([]),
  );

const challengeQuery = (name: string, values: string[]) =>
  values.length === 0 ? '' : `?${values.map((v) => `${name}=${enc(v)}`).join('&')}`;

// ---------------------------------------------------------------------------------------------
// One generator per route

const pub = (method: string, url: string) => `public ${method} ${url}`;
const adm = (method: string, url: string) => `admin ${method} /admin${url}`;
const byKey = (key: string): Route => {
  const found = ALL_ROUTES.find((route) => routeKey(route) === key);
  if (!found) throw new Error(`no route ${key}`);
  return found;
};
const noise =
  (key: string): RouteSpec['gen'] =>
  (f) =>
    request(pathOf(byKey(key)), fc.oneof(noBody, jsonBody(junkJsonBody), formBody(junkForm)), f);
const staticRoute = (key: string): RouteSpec => ({ kind: 'static', gen: noise(key) });
const junkJsonOn =
  (key: string, ids?: fc.Arbitrary<string>): RouteSpec['gen'] =>
  (f) =>
    request(pathOf(byKey(key), ids), jsonBody(junkJsonBody), f);

/**
 * Secret rotation of odd ids and of clients that have no secret to rotate (private_key_jwt, and the
 * request-object client, which authenticates with none): refused whatever the body, nothing rotated.
 */
const rotation = (key: string): RouteSpec => ({
  kind: 'api',
  gen: (f) =>
    request(
      pathOf(byKey(key), fc.oneof(oddId, fc.constantFrom(f.jwtClientId, f.requestObjectClientId))),
      fc.oneof(noBody, jsonBody(junkJsonBody), formBody(junkForm)),
      f,
    ),
});

const introspectSuccess = (answer: Answer) => expect(JSON.parse(answer.text)).toEqual({ active: false });
const revokeSuccess = (answer: Answer) => expect(answer.status).toBe(200);
/** A push that happened to be valid: 201 with a urn of ours. */
const parSuccess = (answer: Answer) => {
  expect(answer.status).toBe(201);
  expect(JSON.parse(answer.text).request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
};

const SPECS: Record<string, RouteSpec> = {
  // Public listener
  [pub('GET', '/health/alive')]: staticRoute(pub('GET', '/health/alive')),
  [pub('GET', '/health/ready')]: staticRoute(pub('GET', '/health/ready')),
  [pub('GET', '/version')]: staticRoute(pub('GET', '/version')),
  [pub('GET', '/.well-known/jwks.json')]: {
    kind: 'static',
    gen: (f) =>
      request(
        fc.constant('/.well-known/jwks.json'),
        fc.constantFrom('*', 'W/"x"', '"', ',,,', 'x'.repeat(3000)).map((tag) => ({ headers: { 'if-none-match': tag } })),
        f,
      ),
  },
  [pub('GET', '/.well-known/openid-configuration')]: staticRoute(pub('GET', '/.well-known/openid-configuration')),
  [pub('GET', '/.well-known/oauth-authorization-server')]: staticRoute(pub('GET', '/.well-known/oauth-authorization-server')),
  [pub('GET', '/oauth2/auth')]: {
    kind: 'browser',
    gen: (f) =>
      request(
        authorizeParams(f).map((pairs) => `/oauth2/auth?${form(pairs)}`),
        noBody,
        f,
      ),
  },
  [pub('POST', '/oauth2/auth')]: {
    kind: 'browser',
    gen: (f) =>
      request(fc.constant('/oauth2/auth'), fc.oneof(formBody(authorizeParams(f).map(form)), formBody(junkForm), jsonBody(junkJsonBody)), f),
  },
  [pub('POST', '/oauth2/par')]: {
    kind: 'api',
    success: parSuccess,
    gen: (f) =>
      request(
        fc.constant('/oauth2/par'),
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.tuple(clientAuth(f), authorizeParams(f)).map(([auth, pairs]) => ({
              headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
              body: form([...pairs.filter(([name]) => !auth.pairs.some(([taken]) => taken === name)), ...auth.pairs]),
            })),
          },
          formBody(junkForm),
          jsonBody(junkJsonBody),
        ),
        f,
      ),
  },
  ...Object.fromEntries(
    // Refused (405) whatever they carry.
    ['GET', 'PUT', 'PATCH', 'DELETE'].map((method): [string, RouteSpec] => [
      pub(method, '/oauth2/par'),
      { kind: 'api', gen: noise(pub(method, '/oauth2/par')) },
    ]),
  ),
  [pub('POST', '/oauth2/token')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc.constant('/oauth2/token'),
        fc.oneof({ weight: 4, arbitrary: tokenRequest(f) }, formBody(junkForm), jsonBody(junkJsonBody)),
        f,
      ),
  },
  [pub('POST', '/oauth2/revoke')]: {
    kind: 'api',
    success: revokeSuccess,
    gen: (f) =>
      request(
        fc.constant('/oauth2/revoke'),
        fc.oneof(
          fc.tuple(clientAuth(f), badToken(f), fc.option(nasty, { nil: undefined })).map(([auth, token, hint]) => ({
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
            body: form([['token', token], ...(hint === undefined ? [] : [['token_type_hint', hint] as [string, string]]), ...auth.pairs]),
          })),
          formBody(junkForm),
          jsonBody(junkJsonBody),
        ),
        f,
      ),
  },
  [pub('GET', '/userinfo')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc.oneof(
          fc.constant('/userinfo'),
          badToken(f).map((t) => `/userinfo?access_token=${enc(t)}`),
        ),
        badToken(f, true).map((t) => ({ headers: { authorization: `Bearer ${t}` } })),
        f,
      ),
  },
  [pub('POST', '/userinfo')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc.constant('/userinfo'),
        fc.oneof(
          formBody(badToken(f).map((t) => form([['access_token', t]]))),
          formBody(junkForm),
          jsonBody(junkJsonBody),
          badToken(f, true).map((t) => ({ headers: { authorization: `Bearer ${t}` } })),
        ),
        f,
      ),
  },
  [pub('POST', '/credentials')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc.constant('/credentials'),
        fc
          .tuple(
            fc.oneof(mutatedAscii(f.accessToken), fc.constantFrom(...f.jwts)),
            fc.oneof(
              jsonBody(junkJsonBody),
              fc.constantFrom(...f.jwts).map((jwt) => ({
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt } }),
              })),
            ),
          )
          .map(([token, rest]) => ({
            ...rest,
            headers: { ...rest.headers, authorization: `Bearer ${token.replace(/[^\x21-\x7e]/g, '')}` },
          })),
        f,
      ),
  },
  [pub('POST', '/oauth2/register')]: { kind: 'api', gen: junkJsonOn(pub('POST', '/oauth2/register')) },
  [pub('GET', '/oauth2/register/:id')]: {
    kind: 'api',
    gen: (f) =>
      request(pathOf(byKey(pub('GET', '/oauth2/register/:id')), fc.oneof(oddId, fc.constant(f.registeredId))), registrationBearer(f), f),
  },
  [pub('PUT', '/oauth2/register/:id')]: {
    kind: 'api',
    gen: (f) =>
      request(
        pathOf(byKey(pub('PUT', '/oauth2/register/:id')), fc.oneof(oddId, fc.constant(f.registeredId))),
        fc
          .tuple(
            registrationBearer(f),
            fc.oneof(
              jsonBody(junkJsonBody),
              fc.constant({ headers: { 'content-type': 'application/json' }, body: '{"client_name":"stolen"}' }),
            ),
          )
          .map(([auth, rest]) => ({
            ...rest,
            headers: { ...rest.headers, ...auth.headers },
          })),
        f,
      ),
  },
  [pub('DELETE', '/oauth2/register/:id')]: {
    kind: 'api',
    gen: (f) =>
      request(pathOf(byKey(pub('DELETE', '/oauth2/register/:id')), fc.oneof(oddId, fc.constant(f.registeredId))), registrationBearer(f), f),
  },
  [pub('GET', '/oauth2/sessions/logout')]: {
    kind: 'browser',
    gen: (f) =>
      request(
        logoutParams(f).map((pairs) => `/oauth2/sessions/logout?${form(pairs)}`),
        noBody,
        f,
      ),
  },
  [pub('POST', '/oauth2/sessions/logout')]: {
    kind: 'browser',
    gen: (f) =>
      request(
        fc.constant('/oauth2/sessions/logout'),
        fc.oneof(formBody(logoutParams(f).map(form)), formBody(junkForm), jsonBody(junkJsonBody)),
        f,
      ),
  },
  [pub('POST', '/oauth2/device/auth')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc.constant('/oauth2/device/auth'),
        fc.oneof(
          fc.tuple(clientAuth(f), nasty, nasty).map(([auth, scope, audience]) => ({
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
            body: form([['scope', scope], ['audience', audience], ...auth.pairs]),
          })),
          formBody(junkForm),
          jsonBody(junkJsonBody),
        ),
        f,
      ),
  },
  [pub('GET', '/oauth2/device/verify')]: {
    kind: 'browser',
    gen: (f) =>
      request(
        fc
          .tuple(
            fc.constantFrom('device_verifier', 'login_verifier', 'consent_verifier', 'user_code', 'client_id'),
            fc.oneof(rawNasty, mutatedAscii(f.loginVerifier).map(enc)),
            fc.option(fc.constantFrom(`&client_id=${enc(f.clientId)}`, '&device_verifier=x', '&user_code=a&user_code=b'), { nil: '' }),
          )
          .map(([name, value, extra]) => `/oauth2/device/verify?${name}=${value}${extra}`),
        noBody,
        f,
      ),
  },
  [pub('GET', '/oauth2/fallbacks/device')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/device')) },
  [pub('GET', '/oauth2/fallbacks/device/done')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/device/done')) },
  [pub('GET', '/oauth2/fallbacks/login')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/login')) },
  [pub('GET', '/oauth2/fallbacks/consent')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/consent')) },
  [pub('GET', '/oauth2/fallbacks/logout')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/logout')) },
  [pub('GET', '/oauth2/fallbacks/logout/callback')]: { kind: 'page', gen: noise(pub('GET', '/oauth2/fallbacks/logout/callback')) },
  [pub('GET', '/oauth2/fallbacks/error')]: {
    kind: 'page',
    gen: (f) =>
      request(
        fc.tuple(rawNasty, rawNasty).map(([e, d]) => `/oauth2/fallbacks/error?error=${e}&error_description=${d}`),
        noBody,
        f,
      ),
  },

  // Admin listener
  [adm('GET', '/health/alive')]: staticRoute(adm('GET', '/health/alive')),
  [adm('GET', '/health/ready')]: staticRoute(adm('GET', '/health/ready')),
  [adm('GET', '/version')]: staticRoute(adm('GET', '/version')),
  [adm('GET', '/metrics/prometheus')]: staticRoute(adm('GET', '/metrics/prometheus')),
  [adm('POST', '/clients')]: { kind: 'api', gen: junkJsonOn(adm('POST', '/clients')) },
  [adm('GET', '/clients')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        fc.tuple(fc.constantFrom('page_size', 'page_token', 'client_name', 'owner'), rawNasty).map(([k, v]) => `/admin/clients?${k}=${v}`),
        noBody,
        f,
      ),
  },
  [adm('GET', '/clients/:id')]: { kind: 'api', gen: noise(adm('GET', '/clients/:id')) },
  [adm('PUT', '/clients/:id')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('PUT', '/clients/:id'), fc.constant(f.clientId))(f),
        request(
          pathOf(byKey(adm('PUT', '/clients/:id'))),
          fc.constant({ headers: { 'content-type': 'application/json' }, body: '{"client_name":"x"}' }),
          f,
        ),
      ),
  },
  [adm('PATCH', '/clients/:id')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('PATCH', '/clients/:id'), fc.constant(f.clientId))(f),
        request(
          pathOf(byKey(adm('PATCH', '/clients/:id')), fc.constant(f.clientId)),
          fc
            .constantFrom(
              '[{"op":"explode","path":"/client_name"}]',
              '[{"op":"replace","path":"/client_name"}]',
              '[{"op":"replace","path":"/client_id","value":"other"}]',
              '[{"op":"replace","path":"/redirect_uris","value":"x"}]',
              '[{"op":"remove","path":"/nothing/here"}]',
              '[{"op":"add","path":"/__proto__/polluted","value":true}]',
              '[{"op":"test","path":"/client_name","value":"not-the-name"}]',
              '[{"op":"move","from":"/nothing","path":"/client_name"}]',
              '{"op":"replace"}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json-patch+json' }, body })),
          f,
        ),
        request(
          pathOf(byKey(adm('PATCH', '/clients/:id'))),
          fc.constant({ headers: { 'content-type': 'application/json' }, body: '[]' }),
          f,
        ),
      ),
  },
  [adm('DELETE', '/clients/:id')]: { kind: 'api', gen: noise(adm('DELETE', '/clients/:id')) },
  [adm('POST', '/clients/:id/secrets/rotate')]: rotation(adm('POST', '/clients/:id/secrets/rotate')),
  [adm('DELETE', '/clients/:id/secrets/rotate')]: rotation(adm('DELETE', '/clients/:id/secrets/rotate')),
  [adm('PUT', '/clients/:id/lifespans')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('PUT', '/clients/:id/lifespans'), fc.constant(f.clientId))(f),
        request(
          pathOf(byKey(adm('PUT', '/clients/:id/lifespans')), fc.constant(f.clientId)),
          fc
            .constantFrom(
              '{"authorization_code_grant_access_token_lifespan":"-1h"}',
              '{"refresh_token_grant_refresh_token_lifespan":"99999999999999h"}',
              '{"implicit_grant_id_token_lifespan":5}',
              '{"authorization_code_grant_id_token_lifespan":"1x"}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json' }, body })),
          f,
        ),
      ),
  },
  [adm('GET', '/keys/:set')]: { kind: 'api', gen: noise(adm('GET', '/keys/:set')) },
  [adm('POST', '/keys/:set')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('POST', '/keys/:set'))(f),
        request(
          pathOf(byKey(adm('POST', '/keys/:set')), fc.constantFrom('victim-set', 'hydra.openid.id-token')),
          fc
            .constantFrom(
              '{"alg":"none","use":"sig"}',
              '{"alg":"RS1","use":"sig"}',
              '{"alg":"HS256","use":"bogus"}',
              '{"alg":"RS256","use":"sig","kid":5}',
              '{"alg":"ES256","use":"sig","kid":"\\u0000"}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json' }, body })),
          f,
        ),
      ),
  },
  [adm('PUT', '/keys/:set')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('PUT', '/keys/:set'), fc.constantFrom('victim-set', 'hydra.openid.id-token'))(f),
        request(
          pathOf(byKey(adm('PUT', '/keys/:set')), fc.constantFrom('victim-set', 'hydra.openid.id-token')),
          fc
            .constantFrom(
              '{"keys":[{}]}',
              '{"keys":"x"}',
              '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}',
              '{"keys":[{"kty":"oct","k":""}]}',
              '{"keys":[{"kty":"EC","crv":"P-999","x":"a","y":"b"}]}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json' }, body })),
          f,
        ),
      ),
  },
  [adm('DELETE', '/keys/:set')]: { kind: 'lenient', gen: noise(adm('DELETE', '/keys/:set')) },
  [adm('GET', '/keys/:set/:kid')]: { kind: 'api', gen: noise(adm('GET', '/keys/:set/:kid')) },
  [adm('PUT', '/keys/:set/:kid')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('PUT', '/keys/:set/:kid'))(f),
        request(
          pathOf(byKey(adm('PUT', '/keys/:set/:kid')), fc.constantFrom('victim-set', 'hydra.openid.id-token', 'victim-kid')),
          fc
            .constantFrom(
              '{}',
              '{"kty":"RSA"}',
              '{"kty":"oct","k":"AAAA","kid":"other"}',
              '{"kty":"EC","crv":"P-256","x":"!!","y":"??","kid":"victim-kid"}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json' }, body })),
          f,
        ),
      ),
  },
  [adm('DELETE', '/keys/:set/:kid')]: { kind: 'lenient', gen: noise(adm('DELETE', '/keys/:set/:kid')) },
  [adm('GET', '/oauth2/auth/requests/login')]: flowRead('/oauth2/auth/requests/login', 'login_challenge', (f) => [
    f.loginChallenge,
    [f.consentChallenge, f.logoutChallenge, f.loginVerifier],
  ]),
  [adm('PUT', '/oauth2/auth/requests/login/accept')]: flowWrite(
    '/oauth2/auth/requests/login/accept',
    'login_challenge',
    (f) => [f.loginChallenge, [f.consentChallenge, f.logoutChallenge]],
    '{"subject":"mallory","remember":true}',
  ),
  [adm('PUT', '/oauth2/auth/requests/login/reject')]: flowWrite(
    '/oauth2/auth/requests/login/reject',
    'login_challenge',
    (f) => [f.loginChallenge, [f.consentChallenge, f.logoutChallenge]],
    '{"error":"access_denied"}',
  ),
  [adm('GET', '/oauth2/auth/requests/consent')]: flowRead('/oauth2/auth/requests/consent', 'consent_challenge', (f) => [
    f.consentChallenge,
    [f.loginChallenge, f.logoutChallenge, f.consentVerifier],
  ]),
  [adm('PUT', '/oauth2/auth/requests/consent/accept')]: flowWrite(
    '/oauth2/auth/requests/consent/accept',
    'consent_challenge',
    (f) => [f.consentChallenge, [f.loginChallenge, f.logoutChallenge]],
    '{"grant_scope":["openid"],"remember":true,"remember_for":0}',
  ),
  [adm('PUT', '/oauth2/auth/requests/consent/reject')]: flowWrite(
    '/oauth2/auth/requests/consent/reject',
    'consent_challenge',
    (f) => [f.consentChallenge, [f.loginChallenge, f.logoutChallenge]],
    '{"error":"access_denied"}',
  ),
  [adm('PUT', '/oauth2/auth/requests/device/accept')]: {
    kind: 'api',
    gen: (f) =>
      request(
        fc
          .oneof(rawNasty, mutatedAscii(f.loginChallenge).map(enc), fc.constant(enc(f.consentChallenge)))
          .map((challenge) => `/admin/oauth2/auth/requests/device/accept?device_challenge=${challenge}`),
        fc.oneof(
          jsonBody(junkJsonBody),
          nasty.map((code) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: code }) })),
        ),
        f,
      ),
  },
  [adm('GET', '/oauth2/auth/requests/logout')]: flowRead('/oauth2/auth/requests/logout', 'logout_challenge', (f) => [
    f.logoutChallenge,
    [f.loginChallenge, f.consentChallenge],
  ]),
  [adm('PUT', '/oauth2/auth/requests/logout/accept')]: flowWrite(
    '/oauth2/auth/requests/logout/accept',
    'logout_challenge',
    (f) => [f.logoutChallenge, [f.loginChallenge, f.consentChallenge]],
    '{}',
  ),
  [adm('PUT', '/oauth2/auth/requests/logout/reject')]: flowWrite(
    '/oauth2/auth/requests/logout/reject',
    'logout_challenge',
    (f) => [f.logoutChallenge, [f.loginChallenge, f.consentChallenge]],
    '{}',
  ),
  [adm('GET', '/oauth2/auth/sessions/consent')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        fc.oneof(
          fc
            .tuple(rawNasty, fc.option(rawNasty, { nil: undefined }))
            .map(([s, sid]) => `/admin/oauth2/auth/sessions/consent?subject=${s}${sid === undefined ? '' : `&login_session_id=${sid}`}`),
          // Paging garbage, for a subject that has consent sessions (so the page token is decoded and used).
          fc
            .tuple(
              fc.constantFrom('alice', 'nobody'),
              fc.constantFrom('page_size', 'page_token'),
              fc.oneof(rawNasty, fc.constantFrom('0', '-1', '1.5', '1e3', '99999999', 'eyJpZCI6MX0', 'AAAA', '')),
            )
            .map(([s, k, v]) => `/admin/oauth2/auth/sessions/consent?subject=${s}&${k}=${v}`),
        ),
        noBody,
        f,
      ),
  },
  [adm('DELETE', '/oauth2/auth/sessions/consent')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        fc
          .tuple(rawNasty, rawNasty, fc.constantFrom('', 'true', 'false', 'yes'))
          .map(([s, c, all]) => `/admin/oauth2/auth/sessions/consent?subject=${s}&client=${c}${all ? `&all=${all}` : ''}`),
        noBody,
        f,
      ),
  },
  [adm('DELETE', '/oauth2/auth/sessions/login')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        fc.tuple(fc.constantFrom('subject', 'sid'), rawNasty).map(([k, v]) => `/admin/oauth2/auth/sessions/login?${k}=${v}`),
        noBody,
        f,
      ),
  },
  [adm('POST', '/oauth2/introspect')]: {
    kind: 'api',
    success: introspectSuccess,
    gen: (f) =>
      request(
        fc.constant('/admin/oauth2/introspect'),
        fc.oneof(
          formBody(
            fc
              .tuple(badToken(f), fc.option(nasty, { nil: undefined }))
              .map(([token, scope]) => form([['token', token], ...(scope === undefined ? [] : [['scope', scope] as [string, string]])])),
          ),
          formBody(fc.constant(form([['token', f.code]]))),
          formBody(junkForm),
          jsonBody(junkJsonBody),
        ),
        f,
      ),
  },
  [adm('POST', '/trust/grants/jwt-bearer/issuers')]: {
    kind: 'api',
    gen: (f) =>
      fc.oneof(
        junkJsonOn(adm('POST', '/trust/grants/jwt-bearer/issuers'))(f),
        request(
          fc.constant('/admin/trust/grants/jwt-bearer/issuers'),
          fc
            .constantFrom(
              '{"issuer":"https://i.example","allow_any_subject":true,"expires_at":"2099-01-01T00:00:00Z","jwk":{"kty":"oct","kid":"k","k":"AA"}}',
              '{"issuer":"https://i.example","allow_any_subject":true,"expires_at":"9999-99-99T99:99:99Z","jwk":{"kty":"EC","kid":"k"}}',
              '{"issuer":"https://i.example","subject":"a","allow_any_subject":true}',
              '{"issuer":5,"scope":[1]}',
            )
            .map((body) => ({ headers: { 'content-type': 'application/json' }, body })),
          f,
        ),
      ),
  },
  [adm('GET', '/trust/grants/jwt-bearer/issuers')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        fc
          .tuple(fc.constantFrom('page_size', 'page_token', 'issuer'), rawNasty)
          .map(([k, v]) => `/admin/trust/grants/jwt-bearer/issuers?${k}=${v}`),
        noBody,
        f,
      ),
  },
  [adm('GET', '/trust/grants/jwt-bearer/issuers/:id')]: { kind: 'api', gen: noise(adm('GET', '/trust/grants/jwt-bearer/issuers/:id')) },
  [adm('DELETE', '/trust/grants/jwt-bearer/issuers/:id')]: {
    kind: 'api',
    gen: noise(adm('DELETE', '/trust/grants/jwt-bearer/issuers/:id')),
  },
  [adm('DELETE', '/oauth2/tokens')]: {
    kind: 'lenient',
    gen: (f) =>
      request(
        rawNasty.filter((v) => v !== f.clientId).map((v) => `/admin/oauth2/tokens?client_id=${v}`),
        noBody,
        f,
      ),
  },
};

function registrationBearer(f: Fixtures): fc.Arbitrary<{ headers: Record<string, string> }> {
  return fc.oneof(
    fc.constant({ headers: {} }),
    fc.oneof(mutatedAscii(f.registrationToken), fc.constantFrom(...f.jwts), fc.constant(f.accessToken)).map((token) => ({
      headers: { authorization: `Bearer ${token}` },
    })),
  );
}

type Challenges = (f: Fixtures) => [own: string, others: string[]];

/** A flow request (login, consent or logout) named by a mangled or foreign challenge, with `body`. */
function flowRoute(url: string, name: string, challenges: Challenges, body: fc.Arbitrary<Omit<HostileRequest, 'path'>>): RouteSpec {
  return {
    kind: 'api',
    gen: (f) => {
      const [own, others] = challenges(f);
      return request(
        badChallenge(own, others).map((c) => `/admin${url}${challengeQuery(name, c)}`),
        body,
        f,
      );
    },
  };
}

/** A GET of a flow request by a challenge that opens nothing. */
function flowRead(url: string, name: string, challenges: Challenges): RouteSpec {
  return flowRoute(url, name, challenges, noBody);
}

/** Accept/reject of a flow with a challenge that opens nothing, and a body valid or not. */
function flowWrite(url: string, name: string, challenges: Challenges, validBody: string): RouteSpec {
  return flowRoute(
    url,
    name,
    challenges,
    fc.oneof(fc.constant({ headers: { 'content-type': 'application/json' }, body: validBody }), jsonBody(junkJsonBody), noBody),
  );
}

// ---------------------------------------------------------------------------------------------
// Sending

const STACK_TRACE = /\bat .+\.(js|ts):\d+|node_modules|ECONNREFUSED|TypeError|ReferenceError/;

async function send(pool: Pool, method: string, hostile: HostileRequest): Promise<Answer> {
  // Header values travel as printable ASCII (undici refuses the rest; raw bytes are tested on sockets below).
  const headers = Object.fromEntries(
    Object.entries(hostile.headers ?? {})
      .map(([k, v]) => [k, v.replace(/[^\x20-\x7e]/g, '').trim()])
      .filter(([, v]) => v !== ''),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  try {
    const response = await Promise.race([
      pool.request({
        method: method as 'GET',
        path: hostile.path,
        headers,
        ...(hostile.body === undefined ? {} : { body: hostile.body }),
        // A fresh connection each time, so one request's leftovers never stall the next.
        reset: true,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      }),
      timeout,
    ]);
    const text = await Promise.race([response.body.text(), timeout]);
    return { status: response.statusCode, headers: response.headers, text };
  } finally {
    clearTimeout(timer);
  }
}

function header(answer: Answer, name: string): string {
  const value = answer.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

function check(spec: RouteSpec, route: Route, answer: Answer, publicUrl: string): void {
  expect(answer.status, 'never a 5xx').toBeLessThan(500);
  expect(answer.text).not.toMatch(STACK_TRACE);
  if (answer.status >= 400) {
    expectErrorJson(answer, 'client error');
  } else if (spec.kind === 'api') {
    expect(spec.success, `${answer.status} ${answer.text.slice(0, 200)}`).toBeDefined();
    spec.success?.(answer);
  } else if (spec.kind === 'lenient' || spec.kind === 'static') {
    expect(answer.status === 304 || (answer.status >= 200 && answer.status < 300), String(answer.status)).toBe(true);
  } else if (spec.kind === 'page') {
    expect(answer.status).toBe(200);
    expect(header(answer, 'content-type')).toMatch(/^text\/html/);
    expect(answer.text).not.toMatch(/<script>alert/);
  } else {
    checkBrowser(route, answer, publicUrl);
  }
}

function checkBrowser(route: Route, answer: Answer, publicUrl: string): void {
  if (answer.status === 200) {
    // response_mode=form_post: the error goes to the client in a self-posting form.
    expect(header(answer, 'content-type')).toMatch(/^text\/html/);
    expect(answer.text).toMatch(/name="error"/);
    return;
  }
  expect([302, 303]).toContain(answer.status);
  const location = new URL(header(answer, 'location'), publicUrl);
  if (location.href.startsWith(ERROR_URL)) {
    expect(location.searchParams.get('error')).toBeTruthy();
  } else if (location.href.startsWith(REDIRECT)) {
    expect(new URLSearchParams(location.hash.slice(1)).get('error') ?? location.searchParams.get('error')).toBeTruthy();
  } else if (route.url === '/oauth2/device/verify') {
    // No verifier (only a user code, say): a new device challenge, for the device verification app.
    expect(location.origin + location.pathname).toBe(`${publicUrl}/oauth2/fallbacks/device`);
    expect(location.searchParams.get('device_challenge')).toBeTruthy();
  } else {
    // Nothing to log out (no session): the logout ends where a finished logout ends.
    expect(route.url).toBe('/oauth2/sessions/logout');
    expect(location.href).toBe(`${publicUrl}/oauth2/fallbacks/logout/callback`);
  }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and the stored-data snapshot

async function hostileJwts(f: {
  clientId: string;
  clientSecret: string;
  jwtClientId: string;
  issuer: string;
  kid: string;
}): Promise<string[]> {
  const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: f.jwtClientId,
    sub: f.jwtClientId,
    aud: `${f.issuer}oauth2/token`,
    jti: 'hostile-jti',
    iat: now,
    exp: now + 300,
    sid: 'x',
    nonce: 'n',
  };
  const unsigned = (headerValue: unknown, payload: unknown, signature = '') => `${b64(headerValue)}.${b64(payload)}.${signature}`;
  const foreignEc = await generateKeyPair('ES256', { extractable: true });
  const foreignRsa = await generateKeyPair('RS256', { extractable: true });
  const foreignJwk: JWK = await exportJWK(foreignEc.publicKey);
  const out = [
    unsigned({ alg: 'none', typ: 'JWT' }, claims),
    unsigned({ alg: 'none' }, { ...claims, iss: f.issuer, sub: 'alice', aud: f.clientId }),
    unsigned({ alg: 'None', typ: 'at+jwt' }, { ...claims, iss: f.issuer, client_id: f.clientId, scp: ['openid'] }),
    unsigned({ alg: 'none', typ: 'logout+jwt' }, { ...claims, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }),
    unsigned({ alg: 'HS256' }, claims, 'c2lnbmF0dXJl'),
    unsigned([], claims),
    unsigned(null, claims),
    unsigned('header', 'payload'),
    unsigned({ alg: 'RS256', kid: f.kid, crit: ['b64'], b64: false }, claims, 'AAAA'),
    unsigned({ alg: 'ES256', jku: 'http://127.0.0.1:1/jwks', kid: 'x' }, claims, 'AAAA'),
    unsigned({ alg: 'ES256' }, { ...claims, exp: 'soon', iat: [], aud: { a: 1 } }, 'AAAA'),
    unsigned({ alg: 'RS256', kid: f.kid }, '[]', 'AAAA'),
    'a.b.c',
    '..',
    '...',
    'eyJ.eyJ.',
    `${b64({ alg: 'none' })}.${'A'.repeat(3000)}.`,
    await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: f.kid }).sign(foreignEc.privateKey),
    await new SignJWT({ ...claims, iss: f.issuer, sub: 'alice', aud: f.clientId })
      .setProtectedHeader({ alg: 'RS256', kid: f.kid })
      .sign(foreignRsa.privateKey),
    await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', jwk: foreignJwk }).sign(foreignEc.privateKey),
    await new SignJWT({ ...claims, iss: f.clientId, sub: f.clientId })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(f.clientSecret)),
    await new SignJWT({ nonce: 'n', aud: f.issuer })
      .setProtectedHeader({ alg: 'ES256', typ: 'openid4vci-proof+jwt', jwk: foreignJwk })
      .sign(foreignEc.privateKey),
    // DPoP proofs (RFC 9449) that must fail before their jti is recorded: none, HS256 keyed with the
    // public key, a private key embedded, a proof for another URL, a stale one; for the token
    // endpoint and for the PAR endpoint, which checks proofs too (RFC 9449 §10.1).
    ...(await hostileDpopProofs(`${f.issuer}oauth2/token`, foreignEc, foreignJwk)),
    ...(await hostileDpopProofs(`${f.issuer}oauth2/par`, foreignEc, foreignJwk)),
  ];
  return out;
}

/** DPoP proofs refused before anything is stored (a proof that passed would record its jti, and change the store). */
async function hostileDpopProofs(htu: string, key: Awaited<ReturnType<typeof generateKeyPair>>, publicJwk: JWK): Promise<string[]> {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { htm: 'POST', htu, jti: 'hostile-dpop', iat: now };
  const header = { typ: 'dpop+jwt', jwk: publicJwk };
  return [
    `${b64({ alg: 'none', ...header })}.${b64(claims)}.`,
    await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
    await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.privateKey) })
      .sign(key.privateKey),
    await new SignJWT({ ...claims, htu: 'https://elsewhere.example/oauth2/token' })
      .setProtectedHeader({ alg: 'ES256', ...header })
      .sign(key.privateKey),
    await new SignJWT({ ...claims, iat: now - 3600 }).setProtectedHeader({ alg: 'ES256', ...header }).sign(key.privateKey),
  ];
}

type Snapshot = Record<string, string[]>;

/** Every row of every table, as sorted JSON lines. */
async function snapshot(server: TestServer): Promise<Snapshot> {
  // biome-ignore lint/suspicious/noExplicitAny: every table, whatever its row type
  const db = server.registry.database.db as unknown as Kysely<any>;
  const out: Snapshot = {};
  // PostgreSQL lists the tables of every schema; only this store's (its search_path) count.
  const schema = server.config.dsn.startsWith('postgres')
    ? ((await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s ?? '')
    : undefined;
  for (const table of await db.introspection.getTables()) {
    if (schema !== undefined && table.schema !== schema) continue;
    const rows = await db.selectFrom(table.name).selectAll().execute();
    out[table.name] = rows
      .map((row) =>
        JSON.stringify(row, (_key, value) =>
          typeof value === 'bigint' ? String(value) : value instanceof Date ? value.toISOString() : value,
        ),
      )
      .sort();
  }
  return out;
}

async function setUp(server: TestServer): Promise<Fixtures> {
  const api = server.admin.oauth2;
  const publicUrl = server.publicUrl;
  const { data: victim } = await api.createOAuth2Client({
    oAuth2Client: {
      client_id: 'victim',
      client_secret: 'victim-secret-0123456789',
      // Token exchange too, so that hostile exchanges reach the grant's own checks.
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: ['https://victim.example/bye'],
      scope: 'openid offline_access offline',
    },
  });
  const jwtKey = await generateKeyPair('ES256', { extractable: true });
  const jwtPublic = { ...(await exportJWK(jwtKey.publicKey)), kid: 'jwt-victim-key', alg: 'ES256', use: 'sig' };
  await api.createOAuth2Client({
    oAuth2Client: {
      client_id: 'jwt-victim',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: sdkJwks(jwtPublic),
      scope: 'read',
    },
  });
  const requestObjectKey = await generateKeyPair('RS256', { extractable: true });
  await api.createOAuth2Client({
    oAuth2Client: {
      client_id: 'request-object-victim',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid',
      token_endpoint_auth_method: 'none',
      jwks: sdkJwks({ ...(await exportJWK(requestObjectKey.publicKey)), kid: 'ro-key', alg: 'RS256', use: 'sig' }),
      request_object_signing_alg: 'RS256',
      request_uris: [UNREACHABLE_REQUEST_URI],
    },
  });
  await server.admin.jwk.createJsonWebKeySet({ set: 'victim-set', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'victim-kid' } });
  const registered = await fetch(`${publicUrl}/oauth2/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'registered', redirect_uris: ['https://registered.example/cb'] }),
  });
  expect(registered.status).toBe(201);
  const { client_id: registeredId, registration_access_token: registrationToken } = (await registered.json()) as {
    client_id: string;
    registration_access_token: string;
  };

  // One flow to its tokens (remembered, so a login session exists for logout), a second left at its code.
  const browser = new Browser();
  const flow = async () => {
    const query = new URLSearchParams({
      client_id: 'victim',
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      state: 'state-0123456789',
      nonce: 'nonce-0123456789',
    });
    const first = await browser.get(`${publicUrl}/oauth2/auth?${query}`);
    const loginChallenge = new URL(first.headers.get('location') as string).searchParams.get('login_challenge') as string;
    const { data: login } = await api.acceptOAuth2LoginRequest({
      loginChallenge,
      acceptOAuth2LoginRequest: { subject: 'alice', remember: true },
    });
    const loginVerifier = new URL(login.redirect_to).searchParams.get('login_verifier') as string;
    const second = await browser.get(login.redirect_to);
    const consentChallenge = new URL(second.headers.get('location') as string).searchParams.get('consent_challenge') as string;
    const { data: consent } = await api.acceptOAuth2ConsentRequest({
      consentChallenge,
      acceptOAuth2ConsentRequest: { grant_scope: ['openid', 'offline_access'] },
    });
    const consentVerifier = new URL(consent.redirect_to).searchParams.get('consent_verifier') as string;
    const third = await browser.get(consent.redirect_to);
    const code = new URL(third.headers.get('location') as string).searchParams.get('code') as string;
    expect(code).toBeTruthy();
    return { loginChallenge, loginVerifier, consentChallenge, consentVerifier, code };
  };
  const used = await flow();
  const exchanged = await fetch(`${publicUrl}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basicAuth('victim', victim.client_secret as string),
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: used.code, redirect_uri: REDIRECT }),
  });
  expect(exchanged.status).toBe(200);
  const tokens = (await exchanged.json()) as Record<string, string>;
  const pending = await flow();
  const logout = await browser.get(`${publicUrl}/oauth2/sessions/logout?id_token_hint=${tokens.id_token}`);
  const logoutChallenge = new URL(logout.headers.get('location') as string).searchParams.get('logout_challenge') as string;
  expect(logoutChallenge).toBeTruthy();

  const issuer = server.config.urls.self.issuer;
  const { data: idKeys } = await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' });
  const jwtAssertion = await new SignJWT({ jti: 'valid-jti-0', aud: `${publicUrl}/oauth2/token` })
    .setProtectedHeader({ alg: 'ES256', kid: 'jwt-victim-key' })
    .setIssuer('jwt-victim')
    .setSubject('jwt-victim')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(jwtKey.privateKey);
  const base = {
    clientId: 'victim',
    clientSecret: victim.client_secret as string,
    jwtClientId: 'jwt-victim',
    issuer,
    kid: idKeys.keys?.[0]?.kid ?? 'kid',
  };
  for (const value of [used.loginChallenge, used.consentChallenge, logoutChallenge, tokens.id_token as string]) {
    // The fuzz sends these in URLs: they must fit the parameter limit with room to spare.
    expect(value.length).toBeLessThan(MAX_PARAMETER / 2);
  }
  const objectClaims = {
    iss: 'request-object-victim',
    aud: issuer,
    client_id: 'request-object-victim',
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid',
    state: 'state-0123456789',
    nonce: 'nonce-0123456789',
    exp: Math.floor(Date.now() / 1000) + 3600,
  };
  const defects: Record<string, unknown>[] = [
    { client_id: 'victim' },
    { response_type: 'token' },
    { redirect_uri: 'https://evil.example/cb' },
    { scope: 'openid admin' },
    { exp: Math.floor(Date.now() / 1000) - 3600 },
    { prompt: 'bogus' },
  ];
  const requestObjects = await Promise.all(
    defects.map((defect) =>
      new SignJWT({ ...objectClaims, ...defect }).setProtectedHeader({ alg: 'RS256', kid: 'ro-key' }).sign(requestObjectKey.privateKey),
    ),
  );
  return {
    requestObjectClientId: 'request-object-victim',
    requestObjects,
    clientId: 'victim',
    clientSecret: base.clientSecret,
    jwtClientId: 'jwt-victim',
    jwtAssertion,
    registeredId,
    registrationToken,
    accessToken: tokens.access_token as string,
    refreshToken: tokens.refresh_token as string,
    idToken: tokens.id_token as string,
    code: pending.code,
    loginChallenge: used.loginChallenge,
    loginVerifier: used.loginVerifier,
    consentChallenge: used.consentChallenge,
    consentVerifier: used.consentVerifier,
    logoutChallenge,
    jwts: await hostileJwts(base),
  };
}

// ---------------------------------------------------------------------------------------------
// The suite

const FUZZED = ALL_ROUTES.filter((route) => route.method !== 'OPTIONS');

it('every route of both listeners has a hostile-input generator, and every generator a route', () => {
  const missing = FUZZED.map(routeKey).filter((key) => !(key in SPECS));
  expect(missing, 'routes without a generator in test/hostile-input.test.ts').toEqual([]);
  const stale = Object.keys(SPECS).filter((key) => !FUZZED.some((route) => routeKey(route) === key));
  expect(stale, 'generators for routes that no longer exist').toEqual([]);
});

describe.each(STORES)('hostile input on every route ($name)', (store) => {
  let server: TestServer;
  let fixtures: Fixtures;
  let before: Snapshot;
  const pools: Partial<Record<Listener, Pool>> = {};

  beforeAll(async () => {
    server = await startTestServer(store, { env: ENV });
    fixtures = await setUp(server);
    pools.public = new Pool(server.publicUrl, { connections: 2 });
    pools.admin = new Pool(server.adminUrl, { connections: 2 });
    before = await snapshot(server);
    console.info(`hostile-input (${store.name}): seed ${SEED}, ${RUNS} runs per route (HOSTILE_SEED / HOSTILE_RUNS to change)`);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(Object.values(pools).map((pool) => pool.close()));
    await server?.close();
  });

  it.each(FUZZED.map((route) => ({ route, key: routeKey(route) })))('$key', async ({ route, key }) => {
    const spec = SPECS[key];
    expect(spec, `no generator for ${key}`).toBeDefined();
    if (!spec) return;
    const pool = pools[route.listener] as Pool;
    await fc.assert(
      fc.asyncProperty(spec.gen(fixtures), async (hostile) => {
        const answer = await send(pool, route.method, hostile);
        try {
          check(spec, route, answer, server.publicUrl);
        } catch (error) {
          throw new Error(
            `${route.method} ${hostile.path.slice(0, 300)} ${JSON.stringify(hostile.headers).slice(0, 300)} body=${String(hostile.body ?? '').slice(0, 200)}\n→ ${answer.status} ${header(answer, 'location').slice(0, 200)} ${answer.text.slice(0, 300)}\n${(error as Error).message}`,
          );
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });

  it('raw bytes fetch cannot send: invalid UTF-8 in paths and queries, bare CR, NUL; no 5xx, no hang', async () => {
    const raw = [
      Buffer.concat([
        Buffer.from('GET /admin/clients/'),
        Buffer.of(0xff, 0xfe, 0xc3, 0x28),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
      Buffer.concat([
        Buffer.from('GET /oauth2/auth?client_id='),
        Buffer.of(0xc0, 0xaf, 0xed, 0xa0, 0x80),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
      Buffer.concat([Buffer.from('GET /admin/keys/'), Buffer.of(0x00), Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
      Buffer.from('GET /health/alive HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\nConnection: close\r\n\r\n'),
      Buffer.from('GARBAGE\r\n\r\n'),
      Buffer.from('POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello'),
      Buffer.from(
        'POST /oauth2/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\nzz\r\n',
      ),
      Buffer.concat([
        Buffer.from(
          'POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\nConnection: close\r\n\r\ngrant_type=',
        ),
        Buffer.of(0xff, 0xfe),
      ]),
    ];
    for (const [index, bytes] of raw.entries()) {
      const url = new URL(index === 0 || index === 2 ? server.adminUrl : server.publicUrl);
      const answer = await rawExchange(url, bytes);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      expect(status, `raw request #${index}: ${answer.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(status, `raw request #${index}`).toBeLessThan(500);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    }
  });

  it('headers over serve.max_header_size → 431 error JSON and a closed connection, not a 500 or a hang', async () => {
    for (const base of [server.publicUrl, server.adminUrl]) {
      const url = new URL(base);
      const huge = Buffer.from(
        `GET /health/alive HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(server.config.serve.max_header_size + 10)}\r\n\r\n`,
      );
      const answer = await rawExchange(url, huge);
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(body.error).toBe('The request headers are too large');
      expect(typeof body.error_description).toBe('string');
      // Many small headers add up the same way (Node counts names and values only); so does a long request line.
      const many = Buffer.from(
        `GET /health/alive HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 4000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`,
      );
      expect(await rawExchange(url, many)).toMatch(/^HTTP\/1\.1 431 /);
      const line = Buffer.from(
        `GET /health/alive?q=${'b'.repeat(server.config.serve.max_header_size + 10)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(await rawExchange(url, line)).toMatch(/^HTTP\/1\.1 (431|414) /);
    }
  });

  it('bodies over serve.body_limit → 413, parameters over serve.max_parameter_length → 400 invalid_request', async () => {
    const big = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=${'x'.repeat(BODY_LIMIT)}`,
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toBe('The request body is too large');
    for (const [base, path, init] of [
      [
        server.publicUrl,
        '/oauth2/token',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `scope=${'s'.repeat(MAX_PARAMETER + 1)}`,
        },
      ],
      [server.publicUrl, `/oauth2/auth?state=${'s'.repeat(MAX_PARAMETER + 1)}`, {}],
      [server.adminUrl, `/admin/clients?client_name=${'n'.repeat(MAX_PARAMETER + 1)}`, {}],
      [server.adminUrl, `/admin/clients/${'i'.repeat(MAX_PARAMETER + 1)}`, {}],
      [
        server.adminUrl,
        `/admin/oauth2/introspect`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `${'k'.repeat(MAX_PARAMETER + 1)}=1&token=x`,
        },
      ],
    ] as Array<[string, string, RequestInit]>) {
      const response = await fetch(`${base}${path}`, { ...init, redirect: 'manual' });
      expect(response.status, path.slice(0, 40)).toBe(400);
      expect(((await response.json()) as { error: string }).error, path.slice(0, 40)).toBe('invalid_request');
    }
    // At the limit is fine.
    const atLimit = await fetch(`${server.adminUrl}/admin/clients?client_name=${'n'.repeat(MAX_PARAMETER)}`);
    expect(atLimit.status).toBe(200);
  });

  it('afterwards the server is ready and every table holds exactly what it held before', async () => {
    for (const base of [server.publicUrl, server.adminUrl]) {
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).toBe(200);
    }
    const after = await snapshot(server);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const table of Object.keys(before)) expect(rowChanges(before[table] ?? [], after[table] ?? []), table).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The fixtures still work: nothing hostile consumed or revoked them.
    const introspected = await fetch(`${server.adminUrl}/admin/oauth2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: fixtures.refreshToken }),
    });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
  });
});

/** Rows added, removed or changed (by their first column), with the fields that differ. */
function rowChanges(before: string[], after: string[]): string[] {
  const parse = (rows: string[]) =>
    new Map(
      rows.map((row) => {
        const record = JSON.parse(row) as Record<string, unknown>;
        return [JSON.stringify(Object.values(record)[0]), record] as const;
      }),
    );
  const [old, now] = [parse(before), parse(after)];
  const changes: string[] = [];
  for (const [key, record] of old) {
    const current = now.get(key);
    if (!current) changes.push(`removed ${key}`);
    else {
      const fields = Object.keys({ ...record, ...current }).filter(
        (field) => JSON.stringify(record[field]) !== JSON.stringify(current[field]),
      );
      if (fields.length > 0)
        changes.push(
          `changed ${key}: ${fields.map((field) => `${field} ${JSON.stringify(record[field])} → ${JSON.stringify(current[field])}`).join(', ')}`,
        );
    }
  }
  for (const key of now.keys()) if (!old.has(key)) changes.push(`added ${key}`);
  return changes;
}

/** Writes bytes on a fresh connection and reads until the server closes it (or 5 s pass). */
function rawExchange(url: URL, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request: no close within ${TIMEOUT_MS} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, TIMEOUT_MS);
    socket.on('data', (chunk) => chunks.push(chunk));
    // A reset after the answer was written still counts: the answer is what matters.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(bytes);
  });
}

// ---------------------------------------------------------------------------------------------
// Hostile client ID metadata documents (issue 16 #5): what a document server answers is as hostile
// as any request, and it reaches the authorization and token endpoints through any client_id.

interface HostileDocument {
  status: number;
  headers: Record<string, string>;
  body: string;
  delayMs: number;
}

const documentField: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  nasty,
  fc.array(nasty, { maxLength: 3 }),
  fc.constantFrom(null, true, 0, -1, 1e308, '', 'none', 'private_key_jwt', 'client_secret_basic', 'authorization_code', 'code'),
);

/** A document at `url`: mostly well-formed with hostile fields, sometimes anything at all. */
const hostileDocument = (url: string): fc.Arbitrary<HostileDocument> =>
  fc.record({
    status: fc.constantFrom(200, 200, 200, 200, 201, 204, 301, 302, 304, 404, 500),
    headers: fc.record(
      {
        'content-type': fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'application/x+json',
          'text/html',
          'application/jsonx',
          '',
        ),
        'cache-control': fc.oneof(
          fc.constantFrom(
            'max-age=60',
            'max-age=-1',
            'max-age=abc',
            'max-age=99999999999999999999999',
            's-maxage=1, max-age=9',
            'no-store',
            '"',
            ',,=',
          ),
          fc.string({ maxLength: 40 }).map(ascii),
        ),
        expires: fc.oneof(
          fc.constantFrom('0', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT'),
          fc.string({ maxLength: 30 }).map(ascii),
        ),
        date: fc.string({ maxLength: 30 }).map(ascii),
        location: fc.constant(`${url}.moved`),
      },
      { requiredKeys: [] },
    ),
    body: fc.oneof(
      fc
        .dictionary(
          fc.constantFrom(
            'client_id',
            'client_name',
            'redirect_uris',
            'grant_types',
            'response_types',
            'token_endpoint_auth_method',
            'jwks',
            'jwks_uri',
            'scope',
            'audience',
            'subject_type',
            'sector_identifier_uri',
            'backchannel_logout_uri',
            'request_uris',
            'client_secret',
            'metadata',
            '__proto__',
            'constructor',
          ),
          documentField,
          { maxKeys: 8 },
        )
        .chain((fields) =>
          fc.boolean().map((own) => JSON.stringify({ redirect_uris: [REDIRECT], ...fields, ...(own ? { client_id: url } : {}) })),
        ),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.string({ maxLength: 200 }),
      fc.constant(`{"client_id":"${url}","redirect_uris":["${REDIRECT}"],"pad":"${'x'.repeat(6000)}"}`),
      fc.constant(`${'['.repeat(5000)}${']'.repeat(5000)}`),
    ),
    // Rarely slower than the fetch's deadline (each costs seconds).
    delayMs: fc.constantFrom(...Array<number>(19).fill(0), 3_500),
  });

/** Stands for a document's own URL in the generated documents (replaced once the URL is known). */
const URL_PLACEHOLDER = 'http://document.placeholder/self';

describe.each(STORES)('hostile client ID metadata documents ($name)', (store) => {
  let server: TestServer;
  let documents: Server | undefined;
  let base: string;
  const served = new Map<string, HostileDocument>();

  beforeAll(async () => {
    documents = createServer((request, response) => {
      const document = served.get(request.url ?? '');
      if (!document) {
        response.writeHead(404).end();
        return;
      }
      const answer = () => {
        try {
          response.writeHead(document.status, document.headers);
        } catch {
          // A header value Node refuses to send: answer without the headers.
          response.writeHead(document.status);
        }
        response.end(document.body);
      };
      if (document.delayMs > 0) setTimeout(answer, document.delayMs).unref();
      else answer();
    });
    await new Promise<void>((resolve) => documents?.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;
    server = await startTestServer(store, {
      env: {
        ...ENV,
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ENABLED: 'true',
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: `${base}/docs/`,
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    documents?.closeAllConnections();
    await new Promise((resolve) => documents?.close(resolve));
  });

  it('never answers a 5xx or a stack trace, whatever the document (or its URL) is', { timeout: 300_000 }, async () => {
    const pool = new Pool(server.publicUrl, { connections: 4 });
    let count = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.constant(''),
            rawNasty.map((text) => encodeURIComponent(text).slice(0, 100)),
            fc.constantFrom('/../x', '#f', '?q=1', '%2e%2e/x'),
          ),
          hostileDocument(URL_PLACEHOLDER),
          async (suffix, template) => {
            count += 1;
            const url = `${base}/docs/${count}${suffix}`;
            // The document names its own URL where the template has the placeholder.
            const document = JSON.parse(JSON.stringify(template).replaceAll(URL_PLACEHOLDER, url)) as HostileDocument;
            served.set(new URL(url).pathname + new URL(url).search, document);
            const authorize = await send(pool, 'GET', {
              path: `/oauth2/auth?${new URLSearchParams({ client_id: url, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'hostile-state' })}`,
            });
            expect(authorize.status, 'never a 5xx').toBeLessThan(500);
            expect(authorize.text).not.toMatch(STACK_TRACE);
            const token = await send(pool, 'POST', {
              path: '/oauth2/token',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ grant_type: 'authorization_code', code: 'hostile', client_id: url }).toString(),
            });
            expect(token.status, 'never a 5xx').toBeLessThan(500);
            expect(token.text).not.toMatch(STACK_TRACE);
            if (token.status >= 400) expectErrorJson(token, 'client error');
          },
        ),
        { seed: SEED, numRuns: Math.min(RUNS, 40), endOnFailure: true },
      );
    } finally {
      await pool.close();
    }
    expect((await fetch(`${server.publicUrl}/health/ready`)).status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
