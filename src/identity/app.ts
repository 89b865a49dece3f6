import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { arrivalOptions, limitConnections } from '../http/plugins/hardening.js';
import { parseForm } from '../http/plugins/parsers.js';
import { adminFailure } from './admin-api.js';
import { consentRoutes } from './consent.js';
import { redirect, show, type UiContext } from './context.js';
import { deviceRoutes } from './device.js';
import { loginRoutes } from './login.js';
import { logoutRoutes } from './logout.js';
import { errorPage, homePage } from './pages.js';

/** Friendly words for the OAuth error codes a person may be sent to `/error` with. */
const ERROR_TITLES: Record<string, string> = {
  access_denied: 'Access was denied',
  login_required: 'You need to sign in',
  consent_required: 'Your permission is needed',
  invalid_client: 'This application is not recognised',
  invalid_request: 'This request is not valid',
  invalid_scope: 'This application asked for something it may not have',
  unauthorized_client: 'This application is not allowed to do that',
  request_forbidden: 'This request is not allowed',
  temporarily_unavailable: 'Signing in is unavailable right now',
  server_error: 'Something went wrong on our side',
};

/**
 * The identity UI as a Fastify app (not yet listening): sign-in, consent and logout pages, the device
 * flow's code-entry and success pages, an error page, and `/health`. It holds no state of its own: the flow lives in Portcullis, the CSRF value
 * in a cookie, the people in the user store.
 */
export function createIdentityApp(ui: UiContext): FastifyInstance {
  const limits = ui.settings.httpLimits;
  const app = Fastify({
    loggerInstance: ui.logger.child({ listener: 'ui' }) as FastifyBaseLogger,
    // One line per request, by the hook below, without query strings (they carry challenges).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 65_536,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    ...arrivalOptions(limits),
  });
  limitConnections(app, limits);

  // Forms only: a page posts nothing else (so no JSON depth to bound here). Parsed as the API
  // listeners parse them; too many fields get the 400 error page.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const fields = parseForm(body as string, limits.max_form_fields);
    if (fields) done(null, fields);
    else done(Object.assign(new Error('The form has too many fields (serve.max_form_fields).'), { statusCode: 400 }), undefined);
  });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.url === '/health') return;
    request.log.info(
      { method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const failure = adminFailure(error);
    if (failure?.kind === 'handled') return redirect(reply, failure.redirectTo);
    if (failure?.kind === 'expired') {
      return show(
        ui,
        reply,
        errorPage({ status: 410, title: 'This link has expired', message: 'Go back to the application and try again.' }),
      );
    }
    if (failure?.kind === 'invalid') {
      return show(
        ui,
        reply,
        errorPage({
          status: 404,
          title: 'This link is not valid',
          message: 'It may have been used already. Go back to the application and try again.',
        }),
      );
    }
    if (failure?.kind === 'unavailable') {
      request.log.error({ status: failure.status, err: { message: error.message, code: error.code } }, 'the admin API call failed');
      return show(
        ui,
        reply,
        errorPage({ status: 502, title: 'Signing in is unavailable right now', message: 'Please try again in a moment.' }),
      );
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return show(ui, reply, errorPage({ status, title: 'This request could not be handled', message: 'Go back and try again.' }));
    }
    request.log.error({ err: error }, 'request failed');
    return show(ui, reply, errorPage({ status: 500, title: 'Something went wrong', message: 'Please try again in a moment.' }));
  });

  app.setNotFoundHandler((_request, reply) =>
    show(ui, reply, errorPage({ status: 404, title: 'Page not found', message: 'There is nothing at this address.' })),
  );

  loginRoutes(app, ui);
  consentRoutes(app, ui);
  logoutRoutes(app, ui);
  deviceRoutes(app, ui);

  app.get('/', async (_request, reply) => show(ui, reply, homePage(ui.settings.product)));

  // Where Portcullis can send errors it cannot return to an application (`urls.error`).
  app.get('/error', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string).slice(0, 1000) : '');
    const code = text('error');
    const message = [text('error_description'), text('error_hint')].filter(Boolean).join(' ');
    return show(
      ui,
      reply,
      errorPage({
        status: 200,
        title: (Object.hasOwn(ERROR_TITLES, code) ? ERROR_TITLES[code] : undefined) ?? 'Something went wrong',
        message: message || 'The request could not be completed. Go back to the application and try again.',
        code: code || undefined,
      }),
    );
  });

  app.get('/health', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
  return app;
}
