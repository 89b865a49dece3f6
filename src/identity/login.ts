import type { OAuth2LoginRequest } from '@ory/hydra-client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { challengeFrom, crossSite, fromDevice, missingChallenge, param, redirect, refuseForm, show, type UiContext } from './context.js';
import { loginPage } from './pages.js';
import { normalizeLogin } from './user-store.js';

const clientName = (login: OAuth2LoginRequest) => login.client.client_name || login.client.client_id || 'the application';

/** A sign-in that was not checked: throttled (429) or no hashing slot free (503); the person may retry after `seconds`. */
interface NotChecked {
  status: 429 | 503;
  seconds: number;
}

function renderForm(
  ui: UiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  login: OAuth2LoginRequest,
  username: string,
  error?: string,
  notChecked?: NotChecked,
) {
  const csrfToken = ui.csrf.token(request, reply, 'login', login.challenge);
  const page = loginPage({
    challenge: login.challenge,
    csrfToken,
    clientName: clientName(login),
    username,
    device: fromDevice(login.request_url),
    ...(error ? { error } : {}),
  });
  if (!notChecked) return show(ui, reply, page);
  reply.header('retry-after', String(notChecked.seconds));
  return show(ui, reply, { ...page, status: notChecked.status });
}

const seconds = (n: number) => `${n} second${n === 1 ? '' : 's'}`;

/**
 * `/login`: Portcullis sends the browser here with a `login_challenge`. A remembered session is
 * accepted at once; otherwise the person signs in with a username (or email) and password.
 */
export function loginRoutes(app: FastifyInstance, ui: UiContext): void {
  app.get('/login', async (request, reply) => {
    const challenge = challengeFrom(request, 'login_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    const { data: login } = await ui.api.getOAuth2LoginRequest({ loginChallenge: challenge });
    if (login.skip) {
      // Portcullis already knows who this is (a remembered login): confirm it without asking again.
      const { data } = await ui.api.acceptOAuth2LoginRequest({
        loginChallenge: challenge,
        acceptOAuth2LoginRequest: { subject: login.subject },
      });
      return redirect(reply, data.redirect_to);
    }
    return renderForm(ui, request, reply, login, login.oidc_context?.login_hint ?? '');
  });

  app.post('/login', async (request, reply) => {
    const challenge = challengeFrom(request, 'login_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    if (crossSite(request) || !ui.csrf.check(request, 'login', challenge, param(request.body, 'csrf_token'))) return refuseForm(ui, reply);
    // Fetched before anything else: an expired or unknown challenge ends here, with no password checked.
    const { data: login } = await ui.api.getOAuth2LoginRequest({ loginChallenge: challenge });

    if (param(request.body, 'action') === 'cancel') {
      const { data } = await ui.api.rejectOAuth2LoginRequest({
        loginChallenge: challenge,
        rejectOAuth2Request: { error: 'access_denied', error_description: 'The user cancelled signing in.' },
      });
      return redirect(reply, data.redirect_to);
    }

    const username = param(request.body, 'username')?.trim() ?? '';
    const password = param(request.body, 'password') ?? '';
    if (!username || !password) {
      return renderForm(ui, request, reply, login, username, 'Enter your username or email, and your password.');
    }
    // Keyed by the login as typed, so an unknown username is throttled and answered as an existing one.
    const keys = { account: normalizeLogin(username), address: request.ip };
    const wait = ui.signIns.retryAfter(keys);
    if (wait > 0) {
      // Refused before any lookup or hashing: the right password is refused too, so a locked account tells nothing.
      ui.logger.info({ client_id: login.client.client_id, retry_after: wait }, 'sign-in refused: too many failed attempts');
      const message = `Too many failed attempts. Try again in ${seconds(wait)}.`;
      return renderForm(ui, request, reply, login, username, message, { status: 429, seconds: wait });
    }
    const checked = await ui.signIns.hashing(async () => ({ user: await ui.users.authenticate(username, password) }));
    if (!checked) {
      ui.logger.warn({ client_id: login.client.client_id }, 'sign-in refused: too many password checks waiting');
      const message = 'Signing in is busy right now. Try again in a moment.';
      return renderForm(ui, request, reply, login, username, message, { status: 503, seconds: 1 });
    }
    const { user } = checked;
    if (!user) {
      ui.signIns.failed(keys);
      ui.logger.info({ client_id: login.client.client_id }, 'sign-in refused: wrong username or password');
      return renderForm(ui, request, reply, login, username, 'The username or password is incorrect.');
    }
    ui.signIns.succeeded(keys);

    const remember = param(request.body, 'remember') === '1';
    const { data } = await ui.api.acceptOAuth2LoginRequest({
      loginChallenge: challenge,
      acceptOAuth2LoginRequest: {
        subject: user.id,
        remember,
        ...(remember ? { remember_for: ui.settings.loginRememberFor } : {}),
        amr: ['pwd'],
      },
    });
    ui.logger.info({ client_id: login.client.client_id, subject: user.id, remember }, 'signed in');
    return redirect(reply, data.redirect_to);
  });
}
