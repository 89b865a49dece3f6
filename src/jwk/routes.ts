import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import type { RouteModule } from '../http/app.js';
import { NotFoundError } from '../http/errors.js';
import { GENERATABLE_ALGS, type KeyRequest } from './generate.js';

const jwkSchema = {
  type: 'object',
  properties: {
    kty: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    use: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    n: { type: 'string' },
    e: { type: 'string' },
    d: { type: 'string' },
    p: { type: 'string' },
    q: { type: 'string' },
    dp: { type: 'string' },
    dq: { type: 'string' },
    qi: { type: 'string' },
    k: { type: 'string' },
    x5c: { type: 'array', items: { type: 'string' } },
    x5t: { type: 'string' },
    'x5t#S256': { type: 'string' },
    x5u: { type: 'string' },
  },
  required: ['kty'],
} as const;
const jwkSetSchema = { type: 'object', properties: { keys: { type: 'array', items: jwkSchema } }, required: ['keys'] } as const;
const setParams = { type: 'object', properties: { set: { type: 'string', minLength: 1 } }, required: ['set'] } as const;
const keyParams = {
  type: 'object',
  properties: { set: { type: 'string', minLength: 1 }, kid: { type: 'string', minLength: 1 } },
  required: ['set', 'kid'],
} as const;
const createSchema = {
  type: 'object',
  properties: { alg: { enum: GENERATABLE_ALGS }, use: { enum: ['sig', 'enc'] }, kid: { type: 'string', maxLength: 255 } },
  required: ['alg', 'use'],
} as const;

interface SetParams {
  set: string;
}
interface KeyParams extends SetParams {
  kid: string;
}

/** Hydra's admin key API: `/admin/keys/{set}` and `/admin/keys/{set}/{kid}`. Answers include private keys. */
export const keyAdminRoutes: RouteModule = (app, { keys }) => {
  app.get<{ Params: SetParams }>('/keys/:set', { schema: { params: setParams, response: { 200: jwkSetSchema } } }, async (request) => {
    const set = await keys.getSet(request.params.set);
    if (set.length === 0) throw new NotFoundError(`The JSON Web Key Set "${request.params.set}" does not exist.`);
    return { keys: set };
  });

  app.post<{ Params: SetParams; Body: KeyRequest }>(
    '/keys/:set',
    { schema: { params: setParams, body: createSchema, response: { 201: jwkSetSchema } } },
    async (request, reply) => reply.status(201).send({ keys: [await keys.generate(request.params.set, request.body)] }),
  );

  app.put<{ Params: SetParams; Body: { keys: JWK[] } }>(
    '/keys/:set',
    { schema: { params: setParams, body: jwkSetSchema, response: { 200: jwkSetSchema } } },
    async (request) => ({ keys: await keys.replaceSet(request.params.set, request.body.keys) }),
  );

  app.delete<{ Params: SetParams }>('/keys/:set', { schema: { params: setParams } }, async (request, reply) => {
    await keys.deleteSet(request.params.set);
    return reply.status(204).send();
  });

  app.get<{ Params: KeyParams }>(
    '/keys/:set/:kid',
    { schema: { params: keyParams, response: { 200: jwkSetSchema } } },
    async (request) => ({
      keys: [await keys.getKey(request.params.set, request.params.kid)],
    }),
  );

  app.put<{ Params: KeyParams; Body: JWK }>(
    '/keys/:set/:kid',
    { schema: { params: keyParams, body: jwkSchema, response: { 200: jwkSchema } } },
    async (request) => keys.putKey(request.params.set, request.params.kid, request.body),
  );

  app.delete<{ Params: KeyParams }>('/keys/:set/:kid', { schema: { params: keyParams } }, async (request, reply) => {
    await keys.deleteKey(request.params.set, request.params.kid);
    return reply.status(204).send();
  });
};

const publicJwkSchema = {
  type: 'object',
  properties: Object.fromEntries(
    Object.entries(jwkSchema.properties).filter(([name]) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].includes(name)),
  ),
} as const;

/** `GET /.well-known/jwks.json`: public keys of the built-in sets, cacheable and revalidatable. */
export const jwksPublicRoutes: RouteModule = (app, { keys, config }) => {
  const maxAge = Math.floor(config.cache.ttl / 1000);
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: publicJwkSchema } } }, 304: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const body = { keys: await keys.publicKeys() };
      const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
      reply.header('cache-control', `public, max-age=${maxAge}, must-revalidate`).header('etag', etag);
      if (matchesEtag(request.headers['if-none-match'], etag)) return reply.status(304).send();
      return body;
    },
  );
};

/** If-None-Match as RFC 9110 13.1.2 compares: `*`, or any listed tag equal under weak comparison (`W/` ignored). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((candidate) => opaque(candidate) === opaque(etag));
}
