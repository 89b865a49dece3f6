import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { PageTokens, pageLinks } from '../client/page-token.js';
import { rfc3339 } from '../client/validate.js';
import type { RouteModule } from '../http/app.js';
import { BadRequestError, ConflictError, HttpError, NotFoundError } from '../http/errors.js';
import { publicPart } from '../jwk/generate.js';
import { jwkSchema } from '../jwk/jwk-schema.js';
import type { JwtBearerTrust } from './trust-store.js';

const PATH = '/trust/grants/jwt-bearer/issuers';
const DEFAULT_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 1000;
/** Canonical UUIDs only: the ids this API hands out. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Fields are typed here but required in the handler, so that a missing one gets Hydra's own answer. */
const trustInputSchema = {
  type: 'object',
  properties: {
    issuer: { type: 'string', maxLength: 2048 },
    subject: { type: 'string', maxLength: 2048 },
    allow_any_subject: { type: 'boolean' },
    scope: { type: 'array', maxItems: 500, items: { type: 'string', maxLength: 512 } },
    jwk: jwkSchema,
    expires_at: { type: 'string', maxLength: 64 },
  },
} as const;
const trustSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    issuer: { type: 'string' },
    subject: { type: 'string' },
    allow_any_subject: { type: 'boolean' },
    scope: { type: 'array', items: { type: 'string' } },
    public_key: { type: 'object', properties: { set: { type: 'string' }, kid: { type: 'string' } } },
    created_at: { type: 'string' },
    expires_at: { type: 'string' },
  },
} as const;
const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;
const listQuery = {
  type: 'object',
  properties: {
    page_size: { type: 'string', pattern: '^[0-9]{1,7}$' },
    page_token: { type: 'string', maxLength: 2048 },
    issuer: { type: 'string', maxLength: 2048 },
  },
} as const;

interface TrustInput {
  issuer?: string;
  subject?: string;
  allow_any_subject?: boolean;
  scope?: string[];
  jwk?: JWK;
  expires_at?: string;
}
interface IdParams {
  id: string;
}

/** Hydra's `trust.ErrMissingRequiredParameter`, with the hint saying which. */
function missingParameter(hint: string): HttpError {
  return new HttpError(
    'missing_required_parameter',
    400,
    'One of the required parameters is missing. Check your request parameters.',
    hint,
  );
}

/** Validates a trust request in Hydra's order (trust/validator.go) and builds the trust; times rounded to seconds as Hydra stores them. */
function trustFrom(input: TrustInput, now: number): JwtBearerTrust {
  if (!input.issuer) throw missingParameter("Field 'issuer' is required.");
  if (!input.subject && !input.allow_any_subject) throw missingParameter("One of 'subject' or 'allow_any_subject' field must be set.");
  if (input.subject && input.allow_any_subject) {
    throw missingParameter("Both 'subject' and 'allow_any_subject' fields cannot be set at the same time.");
  }
  if (!input.expires_at) throw missingParameter("Field 'expires_at' is required.");
  // RFC 3339 with a zone, as Go's time.Time decodes it (Date.parse alone would take local-time forms too).
  const expiresAt = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(input.expires_at)
    ? Date.parse(input.expires_at)
    : Number.NaN;
  if (Number.isNaN(expiresAt))
    throw new HttpError('error', 400, `Field 'expires_at' is not an RFC 3339 time: ${JSON.stringify(input.expires_at)}.`);
  if (!input.jwk?.kid) throw missingParameter("Field 'jwk' must contain JWK with kid header.");
  // Only a public key: a shared (oct) key would let whoever reads the trust forge assertions.
  const publicJwk = publicPart(input.jwk);
  if (!publicJwk || !['RSA', 'EC', 'OKP'].includes(input.jwk.kty ?? '')) {
    throw new BadRequestError("Field 'jwk' must be an asymmetric (RSA, EC or OKP) public key.");
  }
  return {
    id: randomUUID(),
    issuer: input.issuer,
    subject: input.subject ?? '',
    allowAnySubject: input.allow_any_subject === true,
    scope: input.scope ?? [],
    keyId: input.jwk.kid,
    publicJwk: publicJwk as Record<string, unknown>,
    createdAt: roundToSecond(now),
    expiresAt: roundToSecond(expiresAt),
  };
}

function roundToSecond(ms: number): number {
  return Math.round(ms / 1000) * 1000;
}

/** A trust as Hydra answers it: the key shown as its set (the issuer) and kid, never the key itself. */
function trustBody(trust: JwtBearerTrust) {
  return {
    id: trust.id,
    issuer: trust.issuer,
    subject: trust.subject,
    allow_any_subject: trust.allowAnySubject,
    scope: trust.scope,
    public_key: { set: trust.issuer, kid: trust.keyId },
    created_at: rfc3339(new Date(trust.createdAt)),
    expires_at: rfc3339(new Date(trust.expiresAt)),
  };
}

function parseId(raw: string): string {
  if (!UUID_PATTERN.test(raw)) throw new BadRequestError('Unable to parse parameter id: it is not a UUID.');
  return raw.toLowerCase();
}

/** Hydra's trust API for the JWT-bearer grant: `/admin/trust/grants/jwt-bearer/issuers[/{id}]`. */
export const trustAdminRoutes: RouteModule = (app, { persister, config, keyring, clock }) => {
  const pageTokens = new PageTokens(config, keyring);

  app.post<{ Body: TrustInput }>(PATH, { schema: { body: trustInputSchema, response: { 201: trustSchema } } }, async (request, reply) => {
    const trust = trustFrom(request.body ?? {}, clock.now());
    if (!(await persister.trusts.create(trust))) throw new ConflictError();
    return reply.status(201).header('location', `${PATH}/${trust.id}`).send(trustBody(trust));
  });

  app.get<{ Querystring: { page_size?: string; page_token?: string; issuer?: string } }>(
    PATH,
    { schema: { querystring: listQuery, response: { 200: { type: 'array', items: trustSchema } } } },
    async (request, reply) => {
      const { page_size, page_token, issuer } = request.query;
      const limit = Math.min(page_size === undefined ? DEFAULT_PAGE_SIZE : Number(page_size), MAX_PAGE_SIZE);
      if (limit < 1) throw new BadRequestError('Unable to parse pagination parameters: page_size must be at least 1.');
      const afterId = page_token === undefined || page_token === '' ? undefined : pageTokens.decode(page_token);
      const trusts = await persister.trusts.list({
        limit,
        ...(afterId !== undefined ? { afterId } : {}),
        ...(issuer ? { issuer } : {}),
      });
      const last = trusts[trusts.length - 1];
      const next = trusts.length === limit && last ? pageTokens.encode(last.id) : undefined;
      return reply.header('link', pageLinks(request.url, limit, next)).send(trusts.map(trustBody));
    },
  );

  app.get<{ Params: IdParams }>(`${PATH}/:id`, { schema: { params: idParams, response: { 200: trustSchema } } }, async (request) => {
    const trust = await persister.trusts.get(parseId(request.params.id));
    if (!trust) throw new NotFoundError('The trust relationship does not exist.');
    return trustBody(trust);
  });

  app.delete<{ Params: IdParams }>(`${PATH}/:id`, { schema: { params: idParams } }, async (request, reply) => {
    if (!(await persister.trusts.delete(parseId(request.params.id)))) throw new NotFoundError('The trust relationship does not exist.');
    return reply.status(204).send();
  });
};
