import { PageTokens, pageLinks } from '../client/page-token.js';
import type { RouteModule } from '../http/app.js';
import { InvalidRequestError } from '../http/errors.js';
import { clientsOfLoginSession, notifyBackChannel } from '../oidc/backchannel.js';
import type { BackChannelDeps } from '../oidc/deps.js';
import { endLoginSession } from './identity-provider.js';

/** Hydra's consent and login session administration (`/admin/oauth2/auth/sessions/…`). */
export const sessionAdminRoutes: RouteModule = (app, registry) => {
  const { sessions } = registry;
  const pageTokens = new PageTokens(registry.config, registry.keyring);
  app.get<{ Querystring: { subject?: string; login_session_id?: string; page_size?: string; page_token?: string } }>(
    '/oauth2/auth/sessions/consent',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            subject: { type: 'string' },
            login_session_id: { type: 'string' },
            page_size: { type: 'string', pattern: '^[0-9]{1,7}$' },
            page_token: { type: 'string', maxLength: 2048 },
          },
        },
      },
    },
    async (request, reply) => {
      const { subject, login_session_id, page_size, page_token } = request.query;
      if (!subject) throw new InvalidRequestError("Query parameter 'subject' is not defined but should have been.");
      const limit = consentPageSize(page_size);
      const afterId = page_token ? pageTokens.decode(page_token) : undefined;
      const { items, lastId, total } = await sessions.listConsentsPage({
        subject,
        limit,
        ...(login_session_id ? { loginSessionId: login_session_id } : {}),
        ...(afterId !== undefined ? { afterId } : {}),
      });
      const next = lastId === undefined ? undefined : pageTokens.encode(lastId);
      return reply
        .header('link', pageLinks(request.url, limit, next))
        .header('x-total-count', String(total))
        .send(items.map((consent) => consent.document));
    },
  );

  app.delete<{ Querystring: { subject?: string; client?: string; all?: string; consent_request_id?: string } }>(
    '/oauth2/auth/sessions/consent',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            subject: { type: 'string' },
            client: { type: 'string' },
            all: { type: 'string' },
            consent_request_id: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const { subject, client, consent_request_id: consentRequestId } = request.query;
      // Exactly one combination, as Hydra: consent_request_id alone, subject+client, or subject+all=true
      // (empty counts as absent). A wrong one is fosite's invalid_request, not Hydra's generic "malformed" error.
      const allClients = request.query.all === 'true';
      if (consentRequestId && !subject && !client) {
        await sessions.deleteConsentById(consentRequestId);
      } else if (!consentRequestId && subject && Boolean(client) !== allClients) {
        await sessions.deleteConsents(subject, allClients ? undefined : client);
      } else {
        throw new InvalidRequestError('Invalid combination of query parameters.');
      }
      return reply.status(204).send();
    },
  );

  app.delete<{ Querystring: { subject?: string; sid?: string } }>(
    '/oauth2/auth/sessions/login',
    { schema: { querystring: { type: 'object', properties: { subject: { type: 'string' }, sid: { type: 'string' } } } } },
    async (request, reply) => {
      const { subject, sid } = request.query;
      // As Hydra: fosite's invalid_request when both are missing (or empty); `sid` wins when both are given.
      if (!subject && !sid) throw new InvalidRequestError("Either 'subject' or 'sid' query parameters need to be defined.");
      if (sid) {
        await endHeadless(registry, sid);
      } else {
        for (const session of await sessions.loginSessionsOfSubject(subject as string)) await endHeadless(registry, session.id);
        // A session written since the listing goes too, though without notifications.
        await sessions.deleteLoginSessionsOfSubject(subject as string);
      }
      return reply.status(204).send();
    },
  );
};

/** Headless logout: the session ends and its clients hear of it by back-channel (in the background). */
async function endHeadless(registry: BackChannelDeps, sid: string): Promise<void> {
  if (!(await endLoginSession(registry, sid))) return;
  void notifyBackChannel(registry, sid, await clientsOfLoginSession(registry, sid));
}

/** Hydra's keyset pagination sizes: 100 by default (also for 0), at most 500. */
const DEFAULT_CONSENT_PAGE_SIZE = 100;
const MAX_CONSENT_PAGE_SIZE = 500;

function consentPageSize(pageSize: string | undefined): number {
  const size = pageSize === undefined ? 0 : Number(pageSize);
  return Math.min(size > 0 ? size : DEFAULT_CONSENT_PAGE_SIZE, MAX_CONSENT_PAGE_SIZE);
}
