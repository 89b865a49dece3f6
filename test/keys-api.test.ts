import { generateKeyPairSync } from 'node:crypto';
import type { JsonWebKey as SdkJwk } from '@ory/hydra-client';
import {
  CompactSign,
  compactVerify,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorJson, rejection } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const ID_TOKEN_SET = 'hydra.openid.id-token';
const ACCESS_TOKEN_SET = 'hydra.jwt.access-token';
const OLD_SECRET = 'test-secret-0123456789abcdef'; // what startTestServer configures
const NEW_SECRET = 'new-secret-fedcba9876543210';

/** Members a public key must never carry. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** A raw HTTP call, for requests no SDK would send. A string body is sent verbatim. */
async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
  }
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

function publicOf(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy as JWK;
}

function bits(base64url: string | undefined): number {
  return Buffer.from(base64url ?? '', 'base64url').length * 8;
}

const asSdk = (jwk: JWK) => jwk as unknown as SdkJwk;

/** `/.well-known/jwks.json` as a relying party fetches it. */
async function fetchJwks(server: TestServer, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.publicUrl}/.well-known/jwks.json`, { headers });
  const text = await response.text();
  return { response, text, jwks: (text ? JSON.parse(text) : undefined) as JSONWebKeySet };
}

/** Signs a JWT with the current signing key of a set, as the server itself would. */
async function signWith(server: TestServer, set: string, claims: Record<string, unknown> = {}) {
  const signer = await server.registry.keys.signingKey(set);
  const token = await new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuer('https://issuer.example/')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer.key);
  return { token, signer };
}

/** Verifies a JWT against the JWKS the public listener serves right now. */
async function verifyOverHttp(server: TestServer, token: string) {
  const { jwks } = await fetchJwks(server);
  return jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'https://issuer.example/' });
}

/** The keys of a set as the admin API of a server answers them (raw, so a 404 is an empty list). */
async function adminKeys(server: TestServer, set: string): Promise<JWK[]> {
  const response = await fetch(`${server.adminUrl}/admin/keys/${encodeURIComponent(set)}`);
  if (response.status === 404) return [];
  expect(response.status).toBe(200);
  return ((await response.json()) as { keys: JWK[] }).keys;
}

/** Signs with one server's signing key, verifies with another's JWKS over HTTP; the kid that verified. */
async function signAndVerifyOverHttp(signerServer: TestServer, verifierServer: TestServer, set: string) {
  const { token } = await signWith(signerServer, set, { sub: 'carol' });
  const { payload, protectedHeader } = await verifyOverHttp(verifierServer, token);
  expect(payload.sub).toBe('carol');
  return protectedHeader.kid;
}

/** What a generated key of each algorithm looks like. */
const SHAPES: Record<string, { kty: string; crv?: string; private: string }> = {
  RS256: { kty: 'RSA', private: 'd' },
  RS384: { kty: 'RSA', private: 'd' },
  RS512: { kty: 'RSA', private: 'd' },
  PS256: { kty: 'RSA', private: 'd' },
  PS384: { kty: 'RSA', private: 'd' },
  PS512: { kty: 'RSA', private: 'd' },
  ES256: { kty: 'EC', crv: 'P-256', private: 'd' },
  ES384: { kty: 'EC', crv: 'P-384', private: 'd' },
  ES512: { kty: 'EC', crv: 'P-521', private: 'd' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', private: 'd' },
  HS256: { kty: 'oct', private: 'k' },
  HS384: { kty: 'oct', private: 'k' },
  HS512: { kty: 'oct', private: 'k' },
};

// Key material made locally (once for all stores) for imports and for keys that must not import.
let ecPrivate: JWK;
let ecOther: JWK;
let rsaPrivate: JWK;
let rsaOther: JWK;
let rsa1024: JWK;
let edPrivate: JWK;
beforeAll(async () => {
  const ec = async () => exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
  const rsa = async () => exportJWK((await generateKeyPair('RS256', { extractable: true })).privateKey);
  [ecPrivate, ecOther, rsaPrivate, rsaOther, edPrivate] = await Promise.all([
    ec(),
    ec(),
    rsa(),
    rsa(),
    exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).privateKey),
  ]);
  rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' }) as JWK;
});

describe.each(STORES)('JSON Web Key admin API ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server?.close();
  });

  const rows = () => server.registry.database.db.selectFrom('jwks').selectAll().orderBy('pk').execute();
  const admin = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    call(server.adminUrl, method, path, body, headers);

  it('POST generates a key of every supported algorithm, answers 201 with the private key, and seals it at rest', async () => {
    for (const [alg, shape] of Object.entries(SHAPES)) {
      const kid = `gen-${alg}`;
      const { status, data } = await server.admin.jwk.createJsonWebKeySet({
        set: 'generated',
        createJsonWebKeySet: { alg, use: 'sig', kid },
      });
      expect(status, alg).toBe(201);
      expect(data.keys!).toHaveLength(1);
      const jwk = data.keys![0] as unknown as JWK;
      expect(jwk).toMatchObject({ kid, alg, use: 'sig', kty: shape.kty, ...(shape.crv ? { crv: shape.crv } : {}) });
      expect(typeof (jwk as Record<string, unknown>)[shape.private]).toBe('string');

      // The key really is a key of that algorithm: it signs, and its public half verifies.
      const payload = new TextEncoder().encode(`signed with ${alg}`);
      const jws = await new CompactSign(payload).setProtectedHeader({ alg, kid }).sign(await importJWK(jwk, alg));
      const verifyWith = shape.kty === 'oct' ? jwk : publicOf(jwk);
      expect(new TextDecoder().decode((await compactVerify(jws, await importJWK(verifyWith, alg))).payload)).toBe(`signed with ${alg}`);

      if (shape.kty === 'RSA') expect(bits(jwk.n)).toBe(2048);
      if (shape.kty === 'oct') expect(bits(jwk.k)).toBeGreaterThanOrEqual(Number(alg.slice(2)));

      const [row] = await server.registry.database.db
        .selectFrom('jwks')
        .selectAll()
        .where('set_id', '=', 'generated')
        .where('kid', '=', kid)
        .execute();
      expect(row?.private_jwk).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(row?.private_jwk).not.toContain((jwk as Record<string, string>)[shape.private]);
      if (shape.kty === 'oct') {
        expect(row?.public_jwk).toBeNull();
      } else {
        const stored = JSON.parse(row?.public_jwk as string) as Record<string, unknown>;
        expect(PRIVATE_MEMBERS.filter((member) => member in stored)).toEqual([]);
        expect(stored).toMatchObject({ kid, alg, kty: shape.kty });
      }
    }
    const { data } = await server.admin.jwk.getJsonWebKeySet({ set: 'generated' });
    expect(data.keys!.map((key) => key.kid).sort()).toEqual(
      Object.keys(SHAPES)
        .map((alg) => `gen-${alg}`)
        .sort(),
    );
  });

  it('POST generates a kid when none is given and accepts use "enc"', async () => {
    const { status, data } = await server.admin.jwk.createJsonWebKeySet({
      set: 'no-kid',
      createJsonWebKeySet: { alg: 'ES256', use: 'enc' } as never,
    });
    expect(status).toBe(201);
    expect(data.keys![0]?.kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.keys![0]?.use).toBe('enc');
    const { data: stored } = await server.admin.jwk.getJsonWebKey({ set: 'no-kid', kid: data.keys![0]?.kid as string });
    expect(stored.keys![0]).toEqual(data.keys![0]);
  });

  it('GET returns the private keys of a set, newest first, and the newest private key signs', async () => {
    const first = await server.admin.jwk.createJsonWebKeySet({
      set: 'ordered',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'first' },
    });
    const second = await server.admin.jwk.createJsonWebKeySet({
      set: 'ordered',
      createJsonWebKeySet: { alg: 'EdDSA', use: 'sig', kid: 'second' },
    });
    const { status, data } = await server.admin.jwk.getJsonWebKeySet({ set: 'ordered' });
    expect(status).toBe(200);
    expect(data.keys!.map((key) => key.kid)).toEqual(['second', 'first']);
    expect(data.keys!).toEqual([second.data.keys![0], first.data.keys![0]]);
    expect(data.keys!.every((key) => typeof key.d === 'string')).toBe(true);

    const signer = await server.registry.keys.signingKey('ordered');
    expect(signer.kid).toBe('second');
    expect(signer.alg).toBe('EdDSA');

    const single = await server.admin.jwk.getJsonWebKey({ set: 'ordered', kid: 'first' });
    expect(single.status).toBe(200);
    expect(single.data).toEqual({ keys: [first.data.keys![0]] });
  });

  it('answers 404 with error JSON for an unknown set or key', async () => {
    for (const failure of [
      await rejection(server.admin.jwk.getJsonWebKeySet({ set: 'no-such-set' })),
      await rejection(server.admin.jwk.getJsonWebKey({ set: 'no-such-set', kid: 'x' })),
      await rejection(server.admin.jwk.getJsonWebKey({ set: 'ordered', kid: 'no-such-kid' })),
      await rejection(server.admin.jwk.deleteJsonWebKeySet({ set: 'no-such-set' })),
      await rejection(server.admin.jwk.deleteJsonWebKey({ set: 'ordered', kid: 'no-such-kid' })),
    ]) {
      expect(failure.status).toBe(404);
      expect(Object.keys(failure.body).sort()).toEqual(['error', 'error_description']);
      expect(failure.body.error).toBe('Unable to locate the resource');
    }
  });

  it('PUT of a set imports private, public-only and symmetric keys, replacing what was there', async () => {
    await server.admin.jwk.createJsonWebKeySet({
      set: 'imported',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'replaced-away' },
    });
    const keys = [
      { ...ecPrivate, kid: 'ec', alg: 'ES256', use: 'sig' },
      { ...publicOf(rsaPrivate), kid: 'rsa-public', alg: 'RS256', use: 'sig' },
      { kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url'), kid: 'hmac', alg: 'HS256', use: 'sig' },
    ];
    const { status, data } = await server.admin.jwk.setJsonWebKeySet({ set: 'imported', jsonWebKeySet: { keys: keys.map(asSdk) } });
    expect(status).toBe(200);
    expect(data.keys!).toEqual(keys);

    const { data: stored } = await server.admin.jwk.getJsonWebKeySet({ set: 'imported' });
    expect(stored.keys!).toEqual(keys);

    const dbRows = await server.registry.database.db
      .selectFrom('jwks')
      .selectAll()
      .where('set_id', '=', 'imported')
      .orderBy('kid')
      .execute();
    expect(dbRows.map((row) => [row.kid, row.public_jwk !== null, row.private_jwk !== null])).toEqual([
      ['ec', true, true],
      ['hmac', false, true],
      ['rsa-public', true, false],
    ]);
    expect(dbRows.find((row) => row.kid === 'hmac')?.private_jwk).not.toContain(keys[2]?.k);

    // The first key of the request is the newest; it is the only private asymmetric key, so it signs.
    const signer = await server.registry.keys.signingKey('imported');
    expect(signer.kid).toBe('ec');
    expect(signer.alg).toBe('ES256');

    const again = await server.admin.jwk.setJsonWebKeySet({
      set: 'imported',
      jsonWebKeySet: { keys: [asSdk({ ...edPrivate, kid: 'only' })] },
    });
    expect(again.data.keys!.map((key) => key.kid)).toEqual(['only']);
    expect((await server.admin.jwk.getJsonWebKeySet({ set: 'imported' })).data.keys!.map((key) => key.kid)).toEqual(['only']);
  });

  it('PUT of a key creates or replaces it, takes the kid from the path, and makes it the newest', async () => {
    await server.admin.jwk.createJsonWebKeySet({ set: 'single', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'older' } });
    const { kid: _kid, ...withoutKid } = { ...ecPrivate, kid: 'unused', alg: 'ES256', use: 'sig' };
    const created = await server.admin.jwk.setJsonWebKey({ set: 'single', kid: 'put-key', jsonWebKey: asSdk(withoutKid) });
    expect(created.status).toBe(200);
    expect(created.data).toEqual({ ...withoutKid, kid: 'put-key' });

    let keys = (await server.admin.jwk.getJsonWebKeySet({ set: 'single' })).data.keys!;
    expect(keys.map((key) => key.kid)).toEqual(['put-key', 'older']);

    const older = keys[1] as unknown as JWK;
    await server.admin.jwk.setJsonWebKey({
      set: 'single',
      kid: 'older',
      jsonWebKey: asSdk({ ...ecOther, kid: 'older', alg: 'ES256', use: 'sig' }),
    });
    keys = (await server.admin.jwk.getJsonWebKeySet({ set: 'single' })).data.keys!;
    expect(keys.map((key) => key.kid)).toEqual(['older', 'put-key']);
    expect(keys[0]?.d).toBe(ecOther.d);
    expect(keys[0]?.d).not.toBe(older.d);
    expect((await rows()).filter((row) => row.set_id === 'single')).toHaveLength(2);
    expect((await server.registry.keys.signingKey('single')).kid).toBe('older');
  });

  it('DELETE removes a key, then a whole set; each answers 204 once and 404 after', async () => {
    await server.admin.jwk.createJsonWebKeySet({ set: 'doomed', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'a' } });
    await server.admin.jwk.createJsonWebKeySet({ set: 'doomed', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'b' } });
    expect((await server.admin.jwk.deleteJsonWebKey({ set: 'doomed', kid: 'b' })).status).toBe(204);
    expect((await rejection(server.admin.jwk.getJsonWebKey({ set: 'doomed', kid: 'b' }))).status).toBe(404);
    expect((await server.admin.jwk.getJsonWebKeySet({ set: 'doomed' })).data.keys!.map((key) => key.kid)).toEqual(['a']);
    expect((await rejection(server.admin.jwk.deleteJsonWebKey({ set: 'doomed', kid: 'b' }))).status).toBe(404);

    expect((await server.admin.jwk.deleteJsonWebKeySet({ set: 'doomed' })).status).toBe(204);
    expect((await rejection(server.admin.jwk.getJsonWebKeySet({ set: 'doomed' }))).status).toBe(404);
    expect((await rejection(server.admin.jwk.deleteJsonWebKeySet({ set: 'doomed' }))).status).toBe(404);
    expect((await rows()).filter((row) => row.set_id === 'doomed')).toEqual([]);
  });

  it('set names and kids with reserved URL characters round-trip', async () => {
    const set = 'tenant a/b?c#d%';
    const kid = 'key/1 ü+&=';
    await server.admin.jwk.createJsonWebKeySet({ set, createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid } });
    const [row] = await server.registry.database.db.selectFrom('jwks').selectAll().where('set_id', '=', set).execute();
    expect(row?.kid).toBe(kid);
    expect((await server.admin.jwk.getJsonWebKey({ set, kid })).data.keys![0]?.kid).toBe(kid);
    await server.admin.jwk.setJsonWebKey({ set, kid, jsonWebKey: asSdk({ ...ecOther, kid, alg: 'ES256', use: 'sig' }) });
    expect((await server.admin.jwk.getJsonWebKeySet({ set })).data.keys!.map((key) => key.d)).toEqual([ecOther.d]);
    expect((await server.admin.jwk.deleteJsonWebKey({ set, kid })).status).toBe(204);
    expect((await rejection(server.admin.jwk.getJsonWebKeySet({ set }))).status).toBe(404);
  });

  it('serves every key route on the admin listener without the /admin prefix too', async () => {
    const created = await admin('POST', '/keys/unprefixed', { alg: 'ES256', use: 'sig', kid: 'u1' });
    expect(created.status).toBe(201);
    const key = (created.json as { keys: JWK[] }).keys[0] as JWK;
    expect((await admin('GET', '/keys/unprefixed')).json).toEqual({ keys: [key] });
    expect((await admin('GET', '/keys/unprefixed/u1')).json).toEqual({ keys: [key] });
    const replacement = { ...ecOther, kid: 'u1', alg: 'ES256', use: 'sig' };
    const put = await admin('PUT', '/keys/unprefixed/u1', replacement);
    expect(put.status).toBe(200);
    expect(put.json).toEqual(replacement);
    const putSet = await admin('PUT', '/keys/unprefixed', { keys: [replacement, { ...ecPrivate, kid: 'u2' }] });
    expect(putSet.status).toBe(200);
    expect((await admin('GET', '/admin/keys/unprefixed')).json).toEqual({ keys: [replacement, { ...ecPrivate, kid: 'u2' }] });
    expect((await admin('DELETE', '/keys/unprefixed/u2')).status).toBe(204);
    expect((await admin('DELETE', '/keys/unprefixed')).status).toBe(204);
    expectErrorJson(await admin('GET', '/keys/unprefixed'), 404);
  });

  it('does not serve the key admin API on the public listener', async () => {
    for (const path of ['/admin/keys/hydra.openid.id-token', '/keys/hydra.openid.id-token']) {
      const answer = await call(server.publicUrl, 'GET', path);
      expectErrorJson(answer, 404);
      expect(answer.text).not.toMatch(/"d"|"kty"/);
      expectErrorJson(await call(server.publicUrl, 'POST', path, { alg: 'ES256', use: 'sig', kid: 'public' }), 404);
      expectErrorJson(await call(server.publicUrl, 'DELETE', path), 404);
    }
    expect((await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' })).data.keys!).toHaveLength(1);
  });

  it('concurrent POSTs of one kid: exactly one is created, the others get 409', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => admin('POST', '/admin/keys/race-post', { alg: 'ES256', use: 'sig', kid: 'same' })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status === 409)) expectErrorJson(answer, 409);
    const created = answers.find((answer) => answer.status === 201)?.json as { keys: JWK[] };
    expect((await server.admin.jwk.getJsonWebKeySet({ set: 'race-post' })).data.keys!).toEqual(created.keys);
  });

  it('concurrent PUTs of one key or one set all succeed and leave exactly one copy', async () => {
    const keyAnswers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        admin('PUT', '/admin/keys/race-put/k', { ...(i % 2 ? ecPrivate : ecOther), kid: 'k', alg: 'ES256', use: 'sig' }),
      ),
    );
    expect(keyAnswers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await rows()).filter((row) => row.set_id === 'race-put')).toHaveLength(1);

    const setAnswers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        admin('PUT', '/admin/keys/race-put-set', {
          keys: [
            { ...(i % 2 ? ecPrivate : ecOther), kid: 'a' },
            { ...edPrivate, kid: 'b' },
          ],
        }),
      ),
    );
    expect(setAnswers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const stored = (await server.admin.jwk.getJsonWebKeySet({ set: 'race-put-set' })).data.keys!;
    expect(stored.map((key) => key.kid)).toEqual(['a', 'b']);
  });

  it('never writes a private key to the log', async () => {
    const { data } = await server.admin.jwk.getJsonWebKeySet({ set: 'generated' });
    const secrets = data.keys!.flatMap((key) => [key.d, key.k, key.p, key.q].filter((value): value is string => typeof value === 'string'));
    expect(secrets.length).toBeGreaterThan(0);
    const logs = server.logs.join('');
    expect(logs).toContain('request completed');
    for (const secret of secrets) expect(logs).not.toContain(secret);
  });
});

describe.each(STORES)('JSON Web Key admin API rejecting bad input ($name)', (store) => {
  let server: TestServer;
  let guarded: JWK;
  beforeAll(async () => {
    server = await startTestServer(store);
    const { data } = await server.admin.jwk.createJsonWebKeySet({
      set: 'guarded',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'kept' },
    });
    guarded = data.keys![0] as unknown as JWK;
  });
  afterAll(async () => {
    await server?.close();
  });

  const snapshot = () => server.registry.database.db.selectFrom('jwks').selectAll().orderBy('pk').execute();

  const ec = () => ({ ...ecPrivate, kid: 'new', alg: 'ES256', use: 'sig' });
  const oversized = JSON.stringify({ keys: [{ kty: 'oct', kid: 'big', k: 'A'.repeat(1_100_000) }] });

  interface BadRequest {
    name: string;
    method: 'POST' | 'PUT';
    path: string;
    body: () => unknown;
    status: number;
    contentType?: string;
  }
  const cases: BadRequest[] = [
    // POST /admin/keys/{set}: generation requests.
    {
      name: 'POST with an unknown alg',
      method: 'POST',
      path: 'guarded',
      body: () => ({ alg: 'RS1024', use: 'sig', kid: 'x' }),
      status: 400,
    },
    { name: 'POST with alg none', method: 'POST', path: 'guarded', body: () => ({ alg: 'none', use: 'sig', kid: 'x' }), status: 400 },
    {
      name: 'POST with a lower-case alg',
      method: 'POST',
      path: 'guarded',
      body: () => ({ alg: 'es256', use: 'sig', kid: 'x' }),
      status: 400,
    },
    { name: 'POST without alg', method: 'POST', path: 'guarded', body: () => ({ use: 'sig', kid: 'x' }), status: 400 },
    { name: 'POST without use', method: 'POST', path: 'guarded', body: () => ({ alg: 'ES256', kid: 'x' }), status: 400 },
    {
      name: 'POST with an unknown use',
      method: 'POST',
      path: 'guarded',
      body: () => ({ alg: 'ES256', use: 'verify', kid: 'x' }),
      status: 400,
    },
    { name: 'POST with a numeric alg', method: 'POST', path: 'guarded', body: () => ({ alg: 256, use: 'sig', kid: 'x' }), status: 400 },
    { name: 'POST with a numeric kid', method: 'POST', path: 'guarded', body: () => ({ alg: 'ES256', use: 'sig', kid: 7 }), status: 400 },
    { name: 'POST with an array body', method: 'POST', path: 'guarded', body: () => [{ alg: 'ES256', use: 'sig' }], status: 400 },
    { name: 'POST with malformed JSON', method: 'POST', path: 'guarded', body: () => '{"alg":"ES256","use":', status: 400 },
    { name: 'POST with an empty JSON body', method: 'POST', path: 'guarded', body: () => '', status: 400 },
    {
      name: 'POST with a plain-text body',
      method: 'POST',
      path: 'guarded',
      body: () => 'alg=ES256',
      status: 400,
      contentType: 'text/plain',
    },
    { name: 'POST with an XML body', method: 'POST', path: 'guarded', body: () => '<k/>', status: 415, contentType: 'application/xml' },
    {
      name: 'POST with a kid over 255 characters',
      method: 'POST',
      path: 'guarded',
      body: () => ({ alg: 'ES256', use: 'sig', kid: 'x'.repeat(256) }),
      status: 400,
    },
    {
      name: 'POST with a kid the set already has',
      method: 'POST',
      path: 'guarded',
      body: () => ({ alg: 'ES256', use: 'sig', kid: 'kept' }),
      status: 409,
    },
    {
      name: 'POST into a built-in set with a kid it has',
      method: 'POST',
      path: 'hydra.openid.id-token',
      body: () => ({ alg: 'ES256', use: 'sig', kid: builtinKid }),
      status: 409,
    },
    // PUT /admin/keys/{set}: whole-set imports.
    { name: 'PUT of a set without keys', method: 'PUT', path: 'guarded', body: () => ({}), status: 400 },
    { name: 'PUT of a set whose keys is a string', method: 'PUT', path: 'guarded', body: () => ({ keys: 'nope' }), status: 400 },
    { name: 'PUT of a set with a null key', method: 'PUT', path: 'guarded', body: () => ({ keys: [null] }), status: 400 },
    {
      name: 'PUT of a set with a key without kty',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), kty: undefined }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a key without kid',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), kid: undefined }] }),
      status: 400,
    },
    { name: 'PUT of a set with duplicate kids', method: 'PUT', path: 'guarded', body: () => ({ keys: [ec(), ec()] }), status: 400 },
    {
      name: 'PUT of a set with one good and one bad key',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [ec(), { ...ec(), kid: 'bad', x: ecOther.x }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an unknown kty',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), kty: 'XYZ' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an EC point off the curve',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'off', x: ecPrivate.x, y: ecOther.y }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an EC key claiming the wrong curve',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), crv: 'P-384' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an RSA key whose private half belongs to another modulus',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...rsaPrivate, n: rsaOther.n, kid: 'mixed', alg: 'RS256' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an RSA key missing its primes',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'RSA', kid: 'partial', n: rsaPrivate.n, e: rsaPrivate.e, d: rsaPrivate.d }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a 1024-bit RSA key',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...rsa1024, kid: 'short', alg: 'RS256' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an RSA modulus that is not base64url',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'RSA', kid: 'garbage', alg: 'RS256', e: 'AQAB', n: '!!!not base64url!!!' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an RSA key for alg ES256',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...publicOf(rsaPrivate), kid: 'r', alg: 'ES256' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an RSA key for an unknown alg',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...publicOf(rsaPrivate), kid: 'r', alg: 'RS999' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a symmetric key for an unknown alg',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'oct', kid: 's', alg: 'bogus', k: Buffer.alloc(32, 1).toString('base64url') }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a symmetric key for alg RS256',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'oct', kid: 's', alg: 'RS256', k: Buffer.alloc(32, 1).toString('base64url') }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a symmetric key without k',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ kty: 'oct', kid: 's', alg: 'HS256' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with an unknown use',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), use: 'signing' }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a numeric kid',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...ec(), kid: 42 }] }),
      status: 400,
    },
    {
      name: 'PUT of a set with a numeric modulus',
      method: 'PUT',
      path: 'guarded',
      body: () => ({ keys: [{ ...publicOf(rsaPrivate), kid: 'r', n: 12345 }] }),
      status: 400,
    },
    { name: 'PUT of a set with malformed JSON', method: 'PUT', path: 'guarded', body: () => '{"keys":[', status: 400 },
    { name: 'PUT of a set over the body size limit', method: 'PUT', path: 'guarded', body: () => oversized, status: 413 },
    {
      name: 'PUT of a built-in set with a bad key',
      method: 'PUT',
      path: 'hydra.openid.id-token',
      body: () => ({ keys: [{ ...ec(), y: ecOther.y }] }),
      status: 400,
    },
    // PUT /admin/keys/{set}/{kid}: single-key imports.
    {
      name: 'PUT of a key whose body kid differs from the path',
      method: 'PUT',
      path: 'guarded/kept',
      body: () => ({ ...ec(), kid: 'other' }),
      status: 400,
    },
    {
      name: 'PUT of a key that does not import',
      method: 'PUT',
      path: 'guarded/kept',
      body: () => ({ ...ec(), kid: 'kept', x: ecOther.x }),
      status: 400,
    },
    {
      name: 'PUT of a key without kty',
      method: 'PUT',
      path: 'guarded/kept',
      body: () => ({ ...ec(), kid: 'kept', kty: undefined }),
      status: 400,
    },
    {
      name: 'PUT of a key with a numeric kty',
      method: 'PUT',
      path: 'guarded/kept',
      body: () => ({ ...ec(), kid: 'kept', kty: 2 }),
      status: 400,
    },
    { name: 'PUT of a key as an array', method: 'PUT', path: 'guarded/kept', body: () => [ec()], status: 400 },
    { name: 'PUT of a key with malformed JSON', method: 'PUT', path: 'guarded/kept', body: () => '{"kty":"EC"', status: 400 },
    { name: 'PUT of a key over the body size limit', method: 'PUT', path: 'guarded/kept', body: () => oversized, status: 413 },
  ];

  let builtinKid = '';
  it.each(cases)('$name: $status with error JSON, nothing stored', async ({ method, path, body, status, contentType }) => {
    builtinKid = (await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' })).data.keys![0]?.kid as string;
    const before = await snapshot();
    try {
      const answer = await call(server.adminUrl, method, `/admin/keys/${path}`, body(), contentType ? { 'content-type': contentType } : {});
      expectErrorJson(answer, status);
      expect(await snapshot()).toEqual(before);
      expect((await server.admin.jwk.getJsonWebKeySet({ set: 'guarded' })).data.keys!).toEqual([guarded]);
    } finally {
      // Should a case wrongly change the store, put it back so the failure does not spill into the next case.
      await server.registry.database.db.transaction().execute(async (tx) => {
        await tx.deleteFrom('jwks').execute();
        for (const row of before) await tx.insertInto('jwks').values(row).execute();
      });
    }
  });
});

describe.each(STORES)('JWKS publication and signing keys ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server?.close();
  });

  const rowsOf = (set: string) =>
    server.registry.database.db.selectFrom('jwks').selectAll().where('set_id', '=', set).orderBy('pk').execute();

  it('generates both built-in sets on first start: one RS256 2048-bit signing key each, private part sealed', async () => {
    for (const set of [ID_TOKEN_SET, ACCESS_TOKEN_SET]) {
      const rows = await rowsOf(set);
      expect(rows).toHaveLength(1);
      const pub = JSON.parse(rows[0]?.public_jwk as string) as JWK;
      expect(pub).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: rows[0]?.kid, e: 'AQAB' });
      expect(bits(pub.n)).toBe(2048);
      expect(PRIVATE_MEMBERS.filter((member) => member in pub)).toEqual([]);

      const { data } = await server.admin.jwk.getJsonWebKeySet({ set });
      expect(data.keys!).toHaveLength(1);
      const priv = data.keys![0] as SdkJwk;
      expect(priv.kid).toBe(rows[0]?.kid);
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
        expect(typeof priv[member]).toBe('string');
        expect(rows[0]?.private_jwk).not.toContain(priv[member]);
      }
      expect(rows[0]?.private_jwk).not.toMatch(/"d"|"kty"/);
    }
  });

  it('publishes the public parts of both built-in sets, and nothing private', async () => {
    const { data, status } = await server.pub.wellknown.discoverJsonWebKeys();
    expect(status).toBe(200);
    const expected = await Promise.all(
      [ID_TOKEN_SET, ACCESS_TOKEN_SET].map(async (set) => JSON.parse((await rowsOf(set))[0]?.public_jwk as string) as JWK),
    );
    expect(data.keys!).toHaveLength(2);
    expect(data.keys!).toEqual(expect.arrayContaining(expected.map((key) => expect.objectContaining(key))));
    for (const key of data.keys!) expect(PRIVATE_MEMBERS.filter((member) => member in key)).toEqual([]);

    // Keys of other sets are not published.
    await server.admin.jwk.createJsonWebKeySet({
      set: 'unrelated',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'unrelated-key' },
    });
    const { text } = await fetchJwks(server);
    expect(text).not.toContain('unrelated-key');
    expect(text).not.toMatch(/"(d|p|q|dp|dq|qi|k|oth)":/);
  });

  it('is cacheable: Cache-Control, a strong ETag, and 304 for a matching If-None-Match', async () => {
    const first = await fetchJwks(server);
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    const etag = first.response.headers.get('etag') as string;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect((await fetchJwks(server)).response.headers.get('etag')).toBe(etag);

    for (const ifNoneMatch of [etag, `W/${etag}`, `"something-else", ${etag}`, '*']) {
      const revalidated = await fetchJwks(server, { 'if-none-match': ifNoneMatch });
      expect(revalidated.response.status, ifNoneMatch).toBe(304);
      expect(revalidated.text).toBe('');
      expect(revalidated.response.headers.get('etag')).toBe(etag);
      expect(revalidated.response.headers.get('cache-control')).toBe(first.response.headers.get('cache-control'));
    }
    const stale = await fetchJwks(server, { 'if-none-match': '"stale"' });
    expect(stale.response.status).toBe(200);
    expect(stale.jwks).toEqual(first.jwks);
  });

  it('a JWT signed with either set’s signing key verifies against the JWKS fetched over HTTP', async () => {
    for (const set of [ID_TOKEN_SET, ACCESS_TOKEN_SET]) {
      const { token, signer } = await signWith(server, set);
      expect(signer.kid).toBe((await rowsOf(set))[0]?.kid);
      expect(signer.alg).toBe('RS256');
      const { payload, protectedHeader } = await verifyOverHttp(server, token);
      expect(payload.sub).toBe('alice');
      expect(protectedHeader.kid).toBe(signer.kid);
    }
    // And verification is real: a key of the same kid and alg that the server does not hold fails.
    const signer = await server.registry.keys.signingKey(ID_TOKEN_SET);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid })
      .setIssuer('https://issuer.example/')
      .sign(privateKey);
    await expect(verifyOverHttp(server, forged)).rejects.toThrow(/signature/);
  });

  it('rotates by POSTing a newer key: it signs, the JWKS and its ETag change, and older tokens still verify', async () => {
    const before = await fetchJwks(server);
    const { token: oldToken, signer: oldSigner } = await signWith(server, ACCESS_TOKEN_SET);

    const created = await server.admin.jwk.createJsonWebKeySet({
      set: ACCESS_TOKEN_SET,
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'access-2' },
    });
    expect(created.status).toBe(201);

    const after = await fetchJwks(server);
    expect(after.response.headers.get('etag')).not.toBe(before.response.headers.get('etag'));
    expect((await fetchJwks(server, { 'if-none-match': before.response.headers.get('etag') as string })).response.status).toBe(200);
    expect(after.jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining(['access-2', oldSigner.kid]));
    expect(after.jwks.keys).toHaveLength(3);

    const { token, signer } = await signWith(server, ACCESS_TOKEN_SET);
    expect(signer.kid).toBe('access-2');
    expect(signer.alg).toBe('ES256');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'access-2' });
    expect((await verifyOverHttp(server, token)).payload.sub).toBe('alice');
    expect((await verifyOverHttp(server, oldToken)).protectedHeader.kid).toBe(oldSigner.kid);

    // Deleting the new key makes the previous key the signing key again, and unpublishes the new one.
    await server.admin.jwk.deleteJsonWebKey({ set: ACCESS_TOKEN_SET, kid: 'access-2' });
    expect((await server.registry.keys.signingKey(ACCESS_TOKEN_SET)).kid).toBe(oldSigner.kid);
    await expect(verifyOverHttp(server, token)).rejects.toThrow();
    expect((await fetchJwks(server)).jwks.keys.map((key) => key.kid)).not.toContain('access-2');
  });

  it('never publishes a symmetric key nor signs with one, even when it is the only key of a built-in set', async () => {
    await server.admin.jwk.createJsonWebKeySet({
      set: ACCESS_TOKEN_SET,
      createJsonWebKeySet: { alg: 'HS256', use: 'sig', kid: 'hmac-newest' },
    });
    let { text, jwks } = await fetchJwks(server);
    expect(text).not.toContain('hmac-newest');
    expect(jwks.keys.every((key) => key.kty !== 'oct' && !('k' in key))).toBe(true);
    let { token, signer } = await signWith(server, ACCESS_TOKEN_SET);
    expect(signer.kid).not.toBe('hmac-newest');
    expect((await verifyOverHttp(server, token)).payload.sub).toBe('alice');

    // Only a symmetric key left: a fresh asymmetric signing key must appear, and be published.
    await server.admin.jwk.setJsonWebKeySet({
      set: ACCESS_TOKEN_SET,
      jsonWebKeySet: {
        keys: [asSdk({ kty: 'oct', kid: 'hmac-only', alg: 'HS256', use: 'sig', k: Buffer.alloc(32, 9).toString('base64url') })],
      },
    });
    ({ token, signer } = await signWith(server, ACCESS_TOKEN_SET));
    expect(signer.kid).not.toBe('hmac-only');
    expect(decodeProtectedHeader(token).alg).toBe('RS256');
    expect((await verifyOverHttp(server, token)).protectedHeader.kid).toBe(signer.kid);
    ({ text, jwks } = await fetchJwks(server));
    expect(text).not.toContain('hmac-only');
  });

  it('picks the newest private signing key: skips encryption and public-only keys, infers alg when absent', async () => {
    const ec = await exportJWK((await generateKeyPair('ES384', { extractable: true })).privateKey);
    const rsa = await exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true })).privateKey);
    const ed = await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).privateKey);
    const { d: _d, ...edPublic } = ed;
    // Newest first: a public-only key, an RSA-OAEP key without use, an enc-use EC key, then the signer (no alg, no use).
    await server.admin.jwk.setJsonWebKeySet({
      set: 'mixed-uses',
      jsonWebKeySet: {
        keys: [
          asSdk({ ...edPublic, kid: 'public-only', alg: 'EdDSA' }),
          asSdk({ ...rsa, kid: 'oaep', alg: 'RSA-OAEP' }),
          asSdk({ ...ec, kid: 'ec-enc', use: 'enc', alg: 'ECDH-ES' }),
          asSdk({ ...ec, kid: 'ec-sig' }),
        ],
      },
    });
    const signer = await server.registry.keys.signingKey('mixed-uses');
    expect(signer.kid).toBe('ec-sig');
    expect(signer.alg).toBe('ES384');
    const token = await new SignJWT({ sub: 'bob' }).setProtectedHeader({ alg: signer.alg, kid: signer.kid }).sign(signer.key);
    const { d: _ecD, ...ecPublic } = ec;
    expect((await jwtVerify(token, createLocalJWKSet({ keys: [{ ...ecPublic, kid: 'ec-sig' }] }))).payload.sub).toBe('bob');
  });

  it('regenerates a deleted built-in set exactly once however many callers race for it', async () => {
    const oldKid = (await rowsOf(ID_TOKEN_SET))[0]?.kid;
    expect((await server.admin.jwk.deleteJsonWebKeySet({ set: ID_TOKEN_SET })).status).toBe(204);
    const [signers, published] = await Promise.all([
      Promise.all(Array.from({ length: 4 }, () => server.registry.keys.signingKey(ID_TOKEN_SET))),
      Promise.all(Array.from({ length: 3 }, () => fetchJwks(server))),
    ]);
    const rows = await rowsOf(ID_TOKEN_SET);
    expect(rows).toHaveLength(1);
    const kid = rows[0]?.kid;
    expect(kid).not.toBe(oldKid);
    expect(new Set(signers.map((signer) => signer.kid))).toEqual(new Set([kid]));
    for (const { response, jwks } of published) {
      expect(response.status).toBe(200);
      expect(jwks.keys.map((key) => key.kid)).toContain(kid);
      expect(jwks.keys.map((key) => key.kid)).not.toContain(oldKid);
    }
    const { token } = await signWith(server, ID_TOKEN_SET);
    expect((await verifyOverHttp(server, token)).protectedHeader.kid).toBe(kid);
  });

  it('publishes a regenerated built-in set even when only the JWKS is asked for', async () => {
    await server.admin.jwk.deleteJsonWebKeySet({ set: ID_TOKEN_SET });
    const { jwks } = await fetchJwks(server);
    const rows = await rowsOf(ID_TOKEN_SET);
    expect(rows).toHaveLength(1);
    expect(jwks.keys.map((key) => key.kid)).toContain(rows[0]?.kid);
  });
});

describe.each(STORES)('RSA key size from configuration ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { env: { KEYS_RSA_KEY_SIZE: '3072' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('KEYS_RSA_KEY_SIZE sets the modulus of the built-in keys and of POSTed RSA keys', async () => {
    expect(server.config.keys.rsa_key_size).toBe(3072);
    const { data } = await server.pub.wellknown.discoverJsonWebKeys();
    expect(data.keys!).toHaveLength(2);
    for (const key of data.keys!) expect(bits(key.n)).toBe(3072);
    const created = await server.admin.jwk.createJsonWebKeySet({
      set: 'sized',
      createJsonWebKeySet: { alg: 'PS256', use: 'sig', kid: 'p' },
    });
    expect(bits(created.data.keys![0]?.n)).toBe(3072);
    const { token } = await signWith(server, ID_TOKEN_SET);
    expect((await verifyOverHttp(server, token)).payload.sub).toBe('alice');
  });
});

describe.each(STORES)('key sets sealed at rest and secrets.system rotation ($name)', (store) => {
  let server: TestServer;
  const others: TestServer[] = [];
  /** A second server over the same store, configured with other system secrets. */
  const alsoServe = async (secrets: string[]) => {
    const other = await startTestServer(store, { dsn: server.config.dsn, env: { SECRETS_SYSTEM: secrets.join(',') } });
    others.push(other);
    return other;
  };
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    for (const other of others) await other.close();
    await server?.close();
  });

  const rows = () => server.registry.database.db.selectFrom('jwks').selectAll().orderBy('pk').execute();
  const row = async (set: string, kid: string) =>
    server.registry.database.db.selectFrom('jwks').selectAll().where('set_id', '=', set).where('kid', '=', kid).executeTakeFirstOrThrow();

  it('stores private parts only sealed (AES-256-GCM, fresh IV each time), imported keys too', async () => {
    const ec = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    await server.admin.jwk.setJsonWebKey({ set: 'sealed', kid: 'a', jsonWebKey: asSdk({ ...ec, kid: 'a', alg: 'ES256', use: 'sig' }) });
    await server.admin.jwk.setJsonWebKey({ set: 'sealed', kid: 'b', jsonWebKey: asSdk({ ...ec, kid: 'b', alg: 'ES256', use: 'sig' }) });
    const [a, b] = [await row('sealed', 'a'), await row('sealed', 'b')];
    for (const stored of [a, b]) {
      const parts = (stored.private_jwk as string).split('.');
      expect(parts[0]).toBe('v1');
      expect(Buffer.from(parts[1] as string, 'base64url')).toHaveLength(12);
      expect(Buffer.from(parts[3] as string, 'base64url')).toHaveLength(16);
      expect(stored.private_jwk).not.toContain(ec.d);
      expect(JSON.parse(stored.public_jwk as string)).toEqual({
        kty: 'EC',
        crv: 'P-256',
        x: ec.x,
        y: ec.y,
        kid: stored.kid,
        alg: 'ES256',
        use: 'sig',
      });
    }
    // The same key material sealed twice gives unrelated ciphertexts.
    expect(a.private_jwk?.split('.')[1]).not.toBe(b.private_jwk?.split('.')[1]);
    expect((await adminKeys(server, 'sealed')).map((key) => key.d)).toEqual([ec.d, ec.d]);
  });

  it('a private part moved to another set or kid, or with its tag cut short or flipped, no longer opens', async () => {
    const db = server.registry.database.db;
    await server.admin.jwk.createJsonWebKeySet({ set: 'tamper', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'victim' } });
    await server.admin.jwk.createJsonWebKeySet({ set: 'tamper', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'y/z' } });
    const victim = await row('tamper', 'victim');
    const slashed = await row('tamper', 'y/z');
    const original = (await adminKeys(server, 'tamper')).find((key) => key.kid === 'victim') as JWK;
    expect(typeof original.d).toBe('string');
    /** How many keys the admin API answers with the victim's private part, per set. */
    const exposures = async (set: string) => (await adminKeys(server, set)).filter((key) => key.d === original.d).length;
    const copy = (from: typeof victim, set_id: string, kid: string) =>
      db.insertInto('jwks').values({ set_id, kid, public_jwk: from.public_jwk, private_jwk: from.private_jwk, created_at: 1 }).execute();

    // Sealed data copied under another set, or under another kid of its own set.
    await copy(victim, 'tamper-host', 'victim');
    expect(await adminKeys(server, 'tamper-host')).toHaveLength(1);
    expect(await exposures('tamper-host')).toBe(0);
    await copy(victim, 'tamper', 'renamed');
    expect(await adminKeys(server, 'tamper')).toHaveLength(3);
    expect(await exposures('tamper')).toBe(1);
    await db.deleteFrom('jwks').where('set_id', '=', 'tamper').where('kid', '=', 'renamed').execute();

    // Set "tamper" + kid "y/z" must not be confusable with set "tamper/y" + kid "z".
    await copy(slashed, 'tamper/y', 'z');
    const confusable = await adminKeys(server, 'tamper/y');
    expect(confusable).toHaveLength(1);
    expect(confusable[0]?.d).toBeUndefined();

    const [version, iv, ciphertext, tag] = (victim.private_jwk as string).split('.') as [string, string, string, string];
    const tamperWith = async (sealed: string) => {
      await db.updateTable('jwks').set({ private_jwk: sealed }).where('pk', '=', victim.pk).execute();
      const keys = await adminKeys(server, 'tamper');
      expect(keys.map((key) => key.kid)).toEqual(['y/z', 'victim']);
      return keys[1] as JWK;
    };
    // A GCM tag cut to 4 bytes must not authenticate, nor may a flipped ciphertext bit.
    const shortTag = Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url');
    expect((await tamperWith([version, iv, ciphertext, shortTag].join('.'))).d).toBeUndefined();
    const flipped = Buffer.from(ciphertext, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    expect((await tamperWith([version, iv, flipped.toString('base64url'), tag].join('.'))).d).toBeUndefined();
    // Restored, the key opens again.
    expect(await tamperWith(victim.private_jwk as string)).toEqual(original);
  });

  it('with a new secret prepended, old private keys still open and sign, and new keys are sealed with the new secret', async () => {
    const before = await rows();
    const oldPrivate = await Promise.all([ID_TOKEN_SET, ACCESS_TOKEN_SET, 'sealed'].map((set) => adminKeys(server, set)));
    const rotated = await alsoServe([NEW_SECRET, OLD_SECRET]);

    // Starting up generated nothing: the built-in sets' private keys opened.
    expect(await rows()).toEqual(before);
    const seenByRotated = await Promise.all([ID_TOKEN_SET, ACCESS_TOKEN_SET, 'sealed'].map((set) => adminKeys(rotated, set)));
    expect(seenByRotated).toEqual(oldPrivate);
    expect(seenByRotated.flat().every((key) => typeof key.d === 'string')).toBe(true);

    // Tokens the rotated node signs verify against the JWKS of the old node, and vice versa.
    expect(await signAndVerifyOverHttp(rotated, server, ID_TOKEN_SET)).toBe(oldPrivate[0]?.[0]?.kid);
    expect(await signAndVerifyOverHttp(server, rotated, ACCESS_TOKEN_SET)).toBe(oldPrivate[1]?.[0]?.kid);

    // A key the rotated node seals opens with the new secret only: the old node sees its public part.
    const { data } = await rotated.admin.jwk.createJsonWebKeySet({
      set: 'after-rotation',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'n1' },
    });
    const created = data.keys![0] as unknown as JWK;
    expect(await adminKeys(rotated, 'after-rotation')).toEqual([created]);
    const { d: _d, ...createdPublic } = created;
    expect(await adminKeys(server, 'after-rotation')).toEqual([createdPublic]);
  });

  it('with only a new secret, old private parts no longer open, public parts still serve, and fresh signing keys appear', async () => {
    const oldKids = await Promise.all(
      [ID_TOKEN_SET, ACCESS_TOKEN_SET].map(async (set) => (await adminKeys(server, set))[0]?.kid as string),
    );
    const fresh = await alsoServe([NEW_SECRET]);

    // The key sealed by the previous test's rotated node opens here; the old ones do not.
    expect((await adminKeys(fresh, 'after-rotation'))[0]?.d).toEqual(expect.any(String));
    const sealed = await adminKeys(fresh, 'sealed');
    expect(sealed.map((key) => key.kid)).toEqual(['b', 'a']);
    expect(sealed.every((key) => key.d === undefined && key.kty === 'EC' && typeof key.x === 'string')).toBe(true);

    const published = (await fetchJwks(fresh)).jwks.keys.map((key) => key.kid);
    for (const [index, set] of [ID_TOKEN_SET, ACCESS_TOKEN_SET].entries()) {
      const keys = await adminKeys(fresh, set);
      // Newest first: a key generated at start-up (private), then the old one (public part only).
      expect(keys).toHaveLength(2);
      expect(keys[1]?.kid).toBe(oldKids[index]);
      expect(keys[1]?.d).toBeUndefined();
      expect(typeof keys[1]?.n).toBe('string');
      expect(typeof keys[0]?.d).toBe('string');
      expect(published).toEqual(expect.arrayContaining([keys[0]?.kid, oldKids[index]]));
      const signedKid = await signAndVerifyOverHttp(fresh, fresh, set);
      expect(signedKid).toBe(keys[0]?.kid);
      expect(signedKid).not.toBe(oldKids[index]);
    }
  });
});
