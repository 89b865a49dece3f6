import type { Operation } from 'fast-json-patch';
import type { RouteModule } from '../http/app.js';
import { BadRequestError } from '../http/errors.js';
import { type ClientInput, clientInputSchema, clientResponseSchema, lifespansInputSchema } from './model.js';
import { PageTokens, pageLink } from './page-token.js';

const DEFAULT_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 1000;

const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;
const jsonPatchSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      op: { enum: ['add', 'remove', 'replace', 'move', 'copy', 'test'] },
      path: { type: 'string' },
      from: { type: 'string' },
      value: {},
    },
    required: ['op', 'path'],
  },
} as const;
const listQuery = {
  type: 'object',
  properties: {
    page_size: { type: 'string', pattern: '^[0-9]{1,7}$' },
    page_token: { type: 'string', maxLength: 2048 },
    client_name: { type: 'string' },
    owner: { type: 'string' },
  },
} as const;

interface IdParams {
  id: string;
}

/** Hydra's admin client API: `/admin/clients` and `/admin/clients/{id}[/lifespans]`. */
export const clientAdminRoutes: RouteModule = (app, { clients, config, keyring }) => {
  const pageTokens = new PageTokens(config, keyring);
  app.post<{ Body: ClientInput }>(
    '/clients',
    { schema: { body: clientInputSchema, response: { 201: clientResponseSchema } } },
    async (request, reply) => {
      const created = await clients.create(request.body);
      return reply
        .status(201)
        .header('location', `/admin/clients/${encodeURIComponent(created.client_id)}`)
        .send(created);
    },
  );

  app.get<{ Querystring: { page_size?: string; page_token?: string; client_name?: string; owner?: string } }>(
    '/clients',
    { schema: { querystring: listQuery, response: { 200: { type: 'array', items: clientResponseSchema } } } },
    async (request, reply) => {
      const { page_size, page_token, client_name, owner } = request.query;
      const limit = Math.min(page_size === undefined ? DEFAULT_PAGE_SIZE : Number(page_size), MAX_PAGE_SIZE);
      if (limit < 1) throw new BadRequestError('page_size must be at least 1.');
      const afterId = page_token === undefined || page_token === '' ? undefined : pageTokens.decode(page_token);
      const { items, total } = await clients.list({
        limit,
        ...(afterId !== undefined ? { afterId } : {}),
        ...(client_name !== undefined ? { clientName: client_name } : {}),
        ...(owner !== undefined ? { owner } : {}),
      });
      const links = [`<${pageLink(request.url, limit, undefined)}>; rel="first"`];
      const last = items[items.length - 1];
      if (items.length === limit && last) links.push(`<${pageLink(request.url, limit, pageTokens.encode(last.client_id))}>; rel="next"`);
      return reply.header('link', links.join(',')).header('x-total-count', String(total)).send(items);
    },
  );

  app.get<{ Params: IdParams }>(
    '/clients/:id',
    { schema: { params: idParams, response: { 200: clientResponseSchema } } },
    async (request) => clients.get(request.params.id),
  );

  app.put<{ Params: IdParams; Body: ClientInput }>(
    '/clients/:id',
    { schema: { params: idParams, body: clientInputSchema, response: { 200: clientResponseSchema } } },
    async (request) => clients.replace(request.params.id, request.body),
  );

  app.patch<{ Params: IdParams; Body: Operation[] }>(
    '/clients/:id',
    { schema: { params: idParams, body: jsonPatchSchema, response: { 200: clientResponseSchema } } },
    async (request) => {
      // A patch can set any JSON value: the result is held to the same schema as a PUT body.
      const valid = request.compileValidationSchema(clientInputSchema);
      return clients.patch(request.params.id, request.body, (document) => {
        if (!valid(document)) {
          const issue = valid.errors?.[0];
          throw new BadRequestError(`The patched client is invalid: body${issue?.instancePath ?? ''} ${issue?.message ?? 'is invalid'}.`);
        }
      });
    },
  );

  app.delete<{ Params: IdParams }>('/clients/:id', { schema: { params: idParams } }, async (request, reply) => {
    await clients.delete(request.params.id);
    return reply.status(204).send();
  });

  app.put<{ Params: IdParams; Body: Record<string, unknown> }>(
    '/clients/:id/lifespans',
    { schema: { params: idParams, body: lifespansInputSchema, response: { 200: clientResponseSchema } } },
    async (request) => clients.setLifespans(request.params.id, request.body),
  );
};
