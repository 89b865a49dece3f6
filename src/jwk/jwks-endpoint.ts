import { createHash } from 'node:crypto';
import type { RouteModule } from '../http/app.js';
import { PRIVATE_MEMBERS } from './generate.js';
import { jwkSchema } from './jwk-schema.js';

const publicJwkSchema = {
  type: 'object',
  properties: Object.fromEntries(
    Object.entries(jwkSchema.properties).filter(([name]) => !(PRIVATE_MEMBERS as readonly string[]).includes(name)),
  ),
} as const;

/** `GET /.well-known/jwks.json`: public keys of the built-in and broadcast sets, cacheable and revalidatable. */
export const jwksEndpoint: RouteModule = (app, { keys, config }) => {
  const maxAge = Math.floor(config.cache.ttl / 1000);
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: publicJwkSchema } } }, 304: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const body = { keys: await keys.publicKeys(config.webfinger.jwks.broadcast_keys) };
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
