import type { FastifyReply } from 'fastify';

/**
 * Answers carrying tokens, credentials or client secrets must never be stored by a cache (RFC 6749
 * §5.1, RFC 9700 §4.3): `Pragma` for HTTP/1.0 caches that ignore `Cache-Control`.
 */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}
