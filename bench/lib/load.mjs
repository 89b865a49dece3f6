// The HTTP workloads driven by autocannon (W1–W4, W6, W7), in the harness process.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import autocannon from 'autocannon';
import { basicAuth, CLIENTS } from './servers.mjs';

const FORM = 'application/x-www-form-urlencoded';

const noted = new Set();

/** The first failure of a workload on a server is shown once, so that every error count can be explained. */
function noteFailure(server, workload, status, body) {
  const key = `${server.name} ${workload} ${status}`;
  if (noted.has(key)) return;
  noted.add(key);
  process.stderr.write(`${workload} on ${server.name}: HTTP ${status} ${String(body).slice(0, 300)}\n`);
}

function cannon(options) {
  return new Promise((resolve, reject) => {
    autocannon({ timeout: 10, ...options }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** One measurement: successful responses per second, latency percentiles (ms) and every kind of failure. */
function summarise(result, extraErrors = 0) {
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx + extraErrors,
    requests: ok + result.non2xx,
  };
}

async function tokenRequest(server, body, clientId = CLIENTS.opaque) {
  const response = await fetch(server.endpoints.token, {
    method: 'POST',
    headers: { authorization: basicAuth(clientId), 'content-type': FORM },
    body,
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${server.name}: token request failed: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** The floor: POSTs of a small form to a bare node:http server (bench/floor.mjs). */
export function floorLoad(server, { connections }) {
  return async (duration) =>
    summarise(
      await cannon({
        url: server.publicUrl,
        method: 'POST',
        connections,
        duration,
        headers: { 'content-type': FORM },
        body: 'token=floor',
      }),
    );
}

/** client_credentials with client_secret_basic: W1 (opaque access tokens) or, for the JWT client, W3. */
function clientCredentialsLoad(server, { connections, duration }, jwt) {
  return async () =>
    summarise(
      await cannon({
        url: server.endpoints.token,
        method: 'POST',
        connections,
        duration,
        headers: { authorization: basicAuth(jwt ? CLIENTS.jwt : CLIENTS.opaque), 'content-type': FORM },
        body: `grant_type=client_credentials&scope=read${jwt ? server.jwtParams : ''}`,
      }),
    );
}

/** W1: client_credentials, opaque access token, client_secret_basic. */
export const clientCredentials = (server, options) => clientCredentialsLoad(server, options, false);

/**
 * DPoP proofs (RFC 9449) for one ES256 key and one token endpoint, each with a fresh `jti` and `iat`:
 * signed here, in the harness, so the measured server only verifies them (about 30 µs of harness CPU
 * each, with node:crypto and a JWS assembled by hand).
 */
function dpopProofs(htu) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })).toString('base64url');
  return () => {
    const claims = { jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) };
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
}

/** W7: client_credentials with a DPoP proof on every request (a new proof each time, as replays are refused). */
export function clientCredentialsDpop(server, { connections, duration }) {
  const proof = dpopProofs(server.endpoints.token);
  return async () =>
    summarise(
      await cannon({
        url: server.endpoints.token,
        method: 'POST',
        connections,
        duration,
        headers: { authorization: basicAuth(CLIENTS.opaque), 'content-type': FORM },
        requests: [
          {
            setupRequest: (request) => {
              request.body = 'grant_type=client_credentials&scope=read';
              request.headers = { ...request.headers, dpop: proof() };
              return request;
            },
            onResponse: (status, body) => {
              if (status !== 200) noteFailure(server, 'W7', status, body);
              else if (!/"token_type":"dpop"/i.test(body)) noteFailure(server, 'W7 (token not DPoP-bound)', status, body);
            },
          },
        ],
      }),
    );
}

/** W3: client_credentials with an RS256 JWT access token. */
export const clientCredentialsJwt = (server, options) => clientCredentialsLoad(server, options, true);

/** A W3 token, checked to be a JWT signed with RS256 (so the workload measures what it claims to). */
export async function checkJwtAccessToken(server) {
  const { access_token: token } = await tokenRequest(server, `grant_type=client_credentials&scope=read${server.jwtParams}`, CLIENTS.jwt);
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
  if (header.alg !== 'RS256') throw new Error(`${server.name}: W3 access token is not an RS256 JWT`);
  const { access_token: opaque } = await tokenRequest(server, 'grant_type=client_credentials&scope=read');
  if (opaque.split('.').length === 3) throw new Error(`${server.name}: W1 access token is not opaque`);
}

/** W2: introspection of one valid (opaque) access token; any answer other than active counts as an error. */
export function introspection(server, { connections, duration }) {
  return async () => {
    const { access_token: token } = await tokenRequest(server, 'grant_type=client_credentials&scope=read');
    let inactive = 0;
    const result = await cannon({
      url: server.endpoints.introspect,
      method: 'POST',
      connections,
      duration,
      headers: { 'content-type': FORM, ...(server.introspectionAuth ? { authorization: server.introspectionAuth } : {}) },
      requests: [
        {
          body: `token=${encodeURIComponent(token)}`,
          onResponse: (status, body) => {
            if (status === 200 && body.includes('"active":true')) return;
            if (status === 200) inactive++;
            noteFailure(server, 'W2', status, body);
          },
        },
      ],
    });
    return summarise(result, inactive);
  };
}

/** W4: discovery and JWKS, alternating. */
export function discovery(server, { connections, duration }) {
  const discoveryPath = new URL(server.endpoints.discovery).pathname;
  const jwksPath = new URL(server.endpoints.jwks).pathname;
  return async () =>
    summarise(
      await cannon({
        url: server.publicUrl,
        connections,
        duration,
        requests: [
          { method: 'GET', path: discoveryPath },
          { method: 'GET', path: jwksPath },
        ],
      }),
    );
}

/**
 * W6: refresh-token rotation. Every connection exchanges a refresh token and puts the new one back
 * into a shared pool; `refill(n)` supplies fresh ones (a used token is never presented twice). The
 * tokens come from flows for `openid offline_access`, so every answer must carry a new ID token
 * (one signature per refresh, as the table of the cost beyond the signature assumes); one without counts as an error.
 */
export function refreshRotation(server, { connections, duration, refill }) {
  const pool = [];
  const wanted = connections + Math.ceil(connections / 4);
  // The refill runs full flows: the harness calls prepare() before a sample's CPU window opens; run() refills
  // too, for callers that do not (then nothing is left to do here).
  const prepare = async () => {
    if (pool.length < wanted) pool.push(...(await refill(wanted - pool.length)));
  };
  const run = async () => {
    let withoutIdToken = 0;
    await prepare();
    const result = await cannon({
      url: server.endpoints.token,
      method: 'POST',
      connections,
      duration,
      headers: { authorization: basicAuth(CLIENTS.opaque), 'content-type': FORM },
      requests: [
        {
          setupRequest: (request, context) => {
            // An empty pool (never seen with the spare tokens above) sends "none", which fails and counts as an error.
            const token = pool.shift();
            context.token = token;
            request.body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(token ?? 'none')}`;
            return request;
          },
          onResponse: (status, body) => {
            if (status !== 200) {
              noteFailure(server, 'W6', status, body);
              return;
            }
            const answer = JSON.parse(body);
            if (typeof answer.refresh_token === 'string') pool.push(answer.refresh_token);
            if (typeof answer.id_token !== 'string') {
              withoutIdToken++;
              noteFailure(server, 'W6 (no ID token)', status, body);
            }
          },
        },
      ],
    });
    return summarise(result, withoutIdToken);
  };
  return Object.assign(run, { prepare });
}
