import type { JWK } from 'jose';
import type { RouteModule } from '../http/app.js';
import { NotFoundError } from '../http/errors.js';
import { GENERATABLE_ALGS, type KeyRequest } from './generate.js';
import { jwkSchema } from './jwk-schema.js';

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
