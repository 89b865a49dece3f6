import type { RouteModule } from '../http/app.js';
import { InvalidRequestError } from '../http/errors.js';
import { clientsOfLoginSession, notifyBackChannel } from '../oidc/backchannel.js';
import type { BackChannelDeps } from '../oidc/deps.js';
import { endLoginSession } from './identity-provider.js';

/** Hydra's consent and login session administration (`/admin/oauth2/auth/sessions/…`). */
export const sessionAdminRoutes: RouteModule = (app, registry) => {
  const { sessions } = registry;
  app.get<{ Querystring: { subject?: string; login_session_id?: string } }>(
    '/oauth2/auth/sessions/consent',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            subject: { type: 'string' },
            login_session_id: { type: 'string' },
            page_size: { type: 'string' },
            page_token: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const { subject, login_session_id } = request.query;
      if (!subject) throw new InvalidRequestError("Query parameter 'subject' is not defined but should have been.");
      const list = await sessions.listConsents(subject, login_session_id);
      return reply.header('x-total-count', String(list.length)).send(list.map((consent) => consent.document));
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
