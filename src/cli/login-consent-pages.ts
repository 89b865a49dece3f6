/**
 * The example login and consent app `perform authorization-code` serves beside its callback, as
 * Hydra's does: point `urls.login` and `urls.consent` at `http://127.0.0.1:<port>/login` and
 * `/consent` to sign in as any username. With `--skip`, a request the server marks `skip` (a
 * remembered login or consent) is accepted without showing the page. It also has the device flow's
 * code-entry page at `/device` and its end at `/device/done` (`perform device-code --port`, as
 * Hydra's: point `urls.device.verification` and `urls.device.success` there). For manual tests and
 * demos only.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '../crypto/keyring.js';
import { escapeHtml } from '../http/html.js';
import { CliError, callAdmin, type EndpointFlag } from './admin-api.js';

interface LoginRequest {
  challenge: string;
  skip: boolean;
  subject: string;
  client?: { client_id?: string; client_name?: string };
}

interface ConsentRequest extends LoginRequest {
  requested_scope?: string[];
  requested_access_token_audience?: string[];
}

const REMEMBER_FOR = 3600;
const MAX_FORM_BYTES = 64 * 1024;

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of request) {
    body += String(chunk);
    if (body.length > MAX_FORM_BYTES) throw new CliError('the form is too large');
  }
  return new URLSearchParams(body);
}

/**
 * Handles `/login` and `/consent` (GET shows the page, POST accepts or rejects through the admin API);
 * false for any other path. Forms carry a token drawn at start, so no other page can submit them.
 */
export function loginConsentPages(admin: EndpointFlag, skip: boolean) {
  const csrf = randomBytes(24).toString('base64url');
  const redirect = (response: ServerResponse, to: string) => response.writeHead(302, { location: to }).end();
  const html = (response: ServerResponse, status: number, body: string) =>
    response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const buttons =
    '<button type="submit" name="action" value="accept">Accept</button> <button type="submit" name="action" value="deny">Deny</button>';
  const deny = { error: 'access_denied', error_description: 'The resource owner denied the request' };

  const acceptLogin = (challenge: string, subject: string, remember: boolean) =>
    callAdmin<{ redirect_to: string }>(
      admin,
      'PUT',
      `/admin/oauth2/auth/requests/login/accept?${new URLSearchParams({ login_challenge: challenge })}`,
      {
        subject,
        remember,
        remember_for: REMEMBER_FOR,
      },
    );
  const acceptConsent = (challenge: string, scope: string[], audience: string[], remember: boolean) =>
    callAdmin<{ redirect_to: string }>(
      admin,
      'PUT',
      `/admin/oauth2/auth/requests/consent/accept?${new URLSearchParams({ consent_challenge: challenge })}`,
      { grant_scope: scope, grant_access_token_audience: audience, remember, remember_for: REMEMBER_FOR },
    );

  /** The posted form when it carries this run's CSRF token; else a 403 page is sent and undefined returned. */
  async function checkedForm(request: IncomingMessage, response: ServerResponse): Promise<URLSearchParams | undefined> {
    const form = await readForm(request);
    if (safeEqual(presentedCsrf(form), csrf)) return form;
    html(response, 403, page('Forbidden', '<p>This form did not come from this page.</p>'));
    return undefined;
  }

  async function login(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (request.method === 'POST') {
      const form = await checkedForm(request, response);
      if (!form) return;
      const challenge = form.get('challenge') ?? '';
      const query = new URLSearchParams({ login_challenge: challenge });
      const answer =
        form.get('action') === 'accept'
          ? await acceptLogin(challenge, form.get('username') ?? '', form.get('remember') === 'on')
          : await callAdmin<{ redirect_to: string }>(admin, 'PUT', `/admin/oauth2/auth/requests/login/reject?${query}`, deny);
      return void redirect(response, answer.redirect_to);
    }
    const challenge = url.searchParams.get('login_challenge') ?? '';
    const login = await callAdmin<LoginRequest>(
      admin,
      'GET',
      `/admin/oauth2/auth/requests/login?${new URLSearchParams({ login_challenge: challenge })}`,
    );
    if (skip && login.skip) return void redirect(response, (await acceptLogin(challenge, login.subject, true)).redirect_to);
    const form = `<form method="post" action="/login">${hidden('challenge', challenge)}${hidden('csrf', csrf)}
<label>Username <input type="text" name="username" required></label><br>
<label><input type="checkbox" name="remember" checked> Remember me</label><br>${buttons}</form>
<p>${login.skip ? `Already signed in as ${escapeHtml(login.subject)}: this step could be skipped (--skip).` : 'Not signed in.'}</p>`;
    html(response, 200, page('Sign in', form));
  }

  async function consent(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (request.method === 'POST') {
      const form = await checkedForm(request, response);
      if (!form) return;
      const challenge = form.get('challenge') ?? '';
      const answer =
        form.get('action') === 'accept'
          ? await acceptConsent(challenge, form.getAll('scope'), form.getAll('audience'), form.get('remember') === 'on')
          : await callAdmin<{ redirect_to: string }>(
              admin,
              'PUT',
              `/admin/oauth2/auth/requests/consent/reject?${new URLSearchParams({ consent_challenge: challenge })}`,
              deny,
            );
      return void redirect(response, answer.redirect_to);
    }
    const challenge = url.searchParams.get('consent_challenge') ?? '';
    const asked = await callAdmin<ConsentRequest>(
      admin,
      'GET',
      `/admin/oauth2/auth/requests/consent?${new URLSearchParams({ consent_challenge: challenge })}`,
    );
    const scope = asked.requested_scope ?? [];
    const audience = asked.requested_access_token_audience ?? [];
    if (skip && asked.skip) return void redirect(response, (await acceptConsent(challenge, scope, audience, true)).redirect_to);
    const client = asked.client?.client_name || asked.client?.client_id || 'The client';
    const form = `<form method="post" action="/consent">${hidden('challenge', challenge)}${hidden('csrf', csrf)}
<p>${escapeHtml(client)} asks ${escapeHtml(asked.subject)} for:</p>
${scope.map((s) => `<label><input type="checkbox" name="scope" value="${escapeHtml(s)}" checked> ${escapeHtml(s)}</label><br>`).join('\n')}
${audience.map((a) => hidden('audience', a)).join('')}
<label><input type="checkbox" name="remember" checked> Remember this consent</label><br>${buttons}</form>`;
    html(response, 200, page('Consent', form));
  }

  async function device(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (request.method === 'POST') {
      const form = await checkedForm(request, response);
      if (!form) return;
      const challenge = form.get('device_challenge') ?? '';
      const userCode = form.get('user_code') ?? '';
      if (!challenge || !userCode) return void html(response, 400, page('Error', '<p>The code and the device challenge are required.</p>'));
      const answer = await callAdmin<{ redirect_to: string }>(
        admin,
        'PUT',
        `/admin/oauth2/auth/requests/device/accept?${new URLSearchParams({ device_challenge: challenge })}`,
        { user_code: userCode },
      );
      return void redirect(response, answer.redirect_to);
    }
    const challenge = url.searchParams.get('device_challenge') ?? '';
    if (!challenge) return void html(response, 400, page('Error', '<p>device_challenge is required.</p>'));
    const form = `<form method="post" action="/device">${hidden('device_challenge', challenge)}${hidden('csrf', csrf)}
<p>Enter the code your device shows:</p>
<label>Code <input type="text" name="user_code" value="${escapeHtml(url.searchParams.get('user_code') ?? '')}" required></label>
<button type="submit">Submit</button></form>`;
    html(response, 200, page('Device authorization', form));
  }

  const done = async (_request: IncomingMessage, response: ServerResponse) =>
    void html(response, 200, page('Device authorization', '<p>You can now close this window and return to your device.</p>'));

  const routes: ReadonlyMap<string, (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<void>> = new Map([
    ['/login', login],
    ['/consent', consent],
    ['/device', device],
    ['/device/done', done],
  ]);

  return async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> => {
    const route = routes.get(url.pathname);
    if (!route || (request.method !== 'GET' && request.method !== 'POST')) return false;
    try {
      await route(request, response, url);
    } catch (error) {
      const message = error instanceof CliError ? error.message : 'unexpected failure';
      if (!response.headersSent) html(response, 502, page('Error', `<p>${escapeHtml(message)}</p>`));
    }
    return true;
  };
}

/** The CSRF value a posted form carries ('' when none). */
function presentedCsrf(form: URLSearchParams): string {
  return form.get('csrf') ?? '';
}
