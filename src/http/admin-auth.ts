import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { UnauthorizedError } from './errors.js';

/** Routes of the admin listener that stay open with API keys configured: probes and the version. */
const OPEN_ROUTES = /^\/admin\/(health\/[^/]+|version)$/;

const HASHED = /^sha256:([0-9a-f]{64})$/i;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The admin listener's bearer API keys (`serve.admin.auth.api_keys`): every configured entry is the
 * hex SHA-256 of a key (`sha256:<hex>`) or the key itself, kept only as its hash. A request's key is
 * hashed and compared against every configured hash in constant time, without stopping at a match.
 */
export function adminApiKeyCheck(apiKeys: readonly string[]): (request: FastifyRequest) => Promise<void> {
  const hashes = apiKeys.map((entry) => {
    const hashed = HASHED.exec(entry);
    return hashed ? Buffer.from(hashed[1] as string, 'hex') : sha256(entry);
  });
  return async (request) => {
    // Decided by the matched route pattern, so no spelling of a path can reach another route as "open".
    const route = request.routeOptions.url;
    if (route !== undefined && OPEN_ROUTES.test(route)) return;
    // CORS preflights carry no credentials (Fetch standard); they are answered with CORS headers only.
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    if (!match) throw unauthorized('The admin API requires an API key: send "Authorization: Bearer <key>".', 'Bearer realm="admin"');
    const presented = sha256(match[1] as string);
    let valid = false;
    for (const hash of hashes) valid = timingSafeEqual(hash, presented) || valid;
    if (!valid) throw unauthorized('The API key is not valid.', 'Bearer realm="admin", error="invalid_token"');
  };
}

function unauthorized(hint: string, challenge: string) {
  return new UnauthorizedError(hint).withHeader('www-authenticate', challenge);
}
