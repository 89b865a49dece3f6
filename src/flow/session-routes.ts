import type { RouteModule } from '../http/app.js';
import { BadRequestError } from '../http/errors.js';
import { clientsOfLoginSession, notifyBackChannel } from '../oidc/backchannel.js';
import type { Registry } from '../registry.js';

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
      if (!subject) throw new BadRequestError('The "subject" query parameter is required.');
      const list = await sessions.listConsents(subject, login_session_id);
      return reply.header('x-total-count', String(list.length)).send(list.map((consent) => consent.document));
    },
  );

  app.delete<{ Querystring: { subject?: string; client?: string; all?: string } }>(
    '/oauth2/auth/sessions/consent',
    {
      schema: {
        querystring: { type: 'object', properties: { subject: { type: 'string' }, client: { type: 'string' }, all: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      const { subject, client, all } = request.query;
      // Exactly one combination, as Hydra: subject+client, or subject+all=true.
      if (!subject || (client === undefined) === (all !== 'true')) throw new BadRequestError('Invalid combination of query parameters.');
      await sessions.deleteConsents(subject, all === 'true' ? undefined : client);
      return reply.status(204).send();
    },
  );

  app.delete<{ Querystring: { subject?: string; sid?: string } }>(
    '/oauth2/auth/sessions/login',
    { schema: { querystring: { type: 'object', properties: { subject: { type: 'string' }, sid: { type: 'string' } } } } },
    async (request, reply) => {
      const { subject, sid } = request.query;
      if ((subject === undefined) === (sid === undefined)) throw new BadRequestError('Exactly one of "subject" or "sid" is required.');
      if (sid !== undefined) {
        await endLoginSession(registry, sid);
      } else {
        for (const session of await sessions.loginSessionsOfSubject(subject as string)) await endLoginSession(registry, session.id);
        // A session written since the listing goes too, though without notifications.
        await sessions.deleteLoginSessionsOfSubject(subject as string);
      }
      return reply.status(204).send();
    },
  );
};

/** Headless logout: the session ends and its clients hear of it by back-channel (in the background). */
async function endLoginSession(registry: Registry, sid: string): Promise<void> {
  if (!(await registry.sessions.deleteLoginSession(sid))) return;
  void notifyBackChannel(registry, sid, await clientsOfLoginSession(registry, sid));
}
