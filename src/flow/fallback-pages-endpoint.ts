import type { RouteModule } from '../http/app.js';
import { requestText, sendHtml } from '../http/html.js';

/** The most of the request's `error` and `error_description` the error page shows (OAuth codes are short words). */
const MAX_ERROR_CODE = 100;
const MAX_ERROR_DESCRIPTION = 1000;

const PAGES: Record<string, { title: string; key: string; what: string }> = {
  login: { title: 'Login', key: 'urls.login', what: 'your login app; it receives a login_challenge and answers it through the admin API' },
  consent: {
    title: 'Consent',
    key: 'urls.consent',
    what: 'your consent app; it receives a consent_challenge and answers it through the admin API',
  },
  device: {
    title: 'Device verification',
    key: 'urls.device.verification',
    what: 'your device verification app; it receives a device_challenge, asks for the user code and answers it through the admin API',
  },
  logout: {
    title: 'Logout',
    key: 'urls.logout',
    what: 'your logout app; it receives a logout_challenge and answers it through the admin API',
  },
};

/** The placeholder pages used while `urls.*` are not configured (as Hydra's `/oauth2/fallbacks/*`). */
export const fallbackPagesEndpoint: RouteModule = (app) => {
  for (const [page, { title, key, what }] of Object.entries(PAGES)) {
    app.get(`/oauth2/fallbacks/${page}`, async (_request, reply) =>
      sendHtml(
        reply,
        `${title} app not configured`,
        () =>
          `<h1>${title} app not configured</h1><p>Portcullis sent you here because <code>${key}</code> is not set. ` +
          `Set it (environment variable <code>${key.toUpperCase().replace(/\./g, '_')}</code>) to the URL of ${what}.</p>`,
      ),
    );
  }
  app.get('/oauth2/fallbacks/logout/callback', async (_request, reply) =>
    sendHtml(
      reply,
      'Logged out',
      () => '<h1>You are logged out</h1><p>Set <code>urls.post_logout_redirect</code> to send people somewhere else.</p>',
    ),
  );
  app.get('/oauth2/fallbacks/device/done', async (_request, reply) =>
    sendHtml(
      reply,
      'Device signed in',
      () =>
        '<h1>You successfully authenticated on your device!</h1><p>The device login request succeeded. ' +
        'Portcullis shows this page because <code>urls.device.success</code> is not set.</p>',
    ),
  );
  app.get<{ Querystring: { error?: unknown; error_description?: unknown } }>('/oauth2/fallbacks/error', async (request, reply) => {
    const { error, error_description } = request.query;
    return sendHtml(
      reply,
      'An error occurred',
      () =>
        `<h1>An error occurred</h1><p><strong>${requestText(error, MAX_ERROR_CODE) || 'unknown_error'}</strong></p>` +
        `<p>${requestText(error_description, MAX_ERROR_DESCRIPTION)}</p>` +
        '<p>Set <code>urls.error</code> to show errors in your own page.</p>',
    );
  });
};
