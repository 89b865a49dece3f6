import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { adminStatus } from './admin-api.js';
import { challengeFrom, crossSite, missingChallenge, param, redirect, refuseForm, show, type UiContext } from './context.js';
import { deviceCodePage, deviceDonePage } from './pages.js';
import type { SignInKeys } from './throttle.js';

/** Longest code the form takes (RFC 8628 codes are short: Hydra's are 8 characters by default). */
const MAX_CODE = 64;

/**
 * The code as typed, then without the spaces and dashes people add while copying one (devices often
 * show `WDJB-MJHT`, RFC 8628 §6.1). Tried in that order, so a server whose character set has dashes
 * still gets the code exactly as typed first. Case is kept: Portcullis' and Hydra's default codes mix
 * upper and lower case, so another case would be another code (perhaps another device's).
 */
function candidates(typed: string): string[] {
  const plain = typed.replace(/[\s-]+/g, '');
  return plain === typed || plain === '' ? [typed] : [typed, plain];
}

/**
 * Wrong codes are throttled as wrong passwords are, per network address (a guesser's) and per
 * device challenge (one browser's attempt), so guessing someone else's pending code costs the
 * guesser time and never locks out anybody else.
 */
function throttleKeys(request: FastifyRequest, challenge: string): SignInKeys {
  return { account: `device:${createHash('sha256').update(challenge).digest('base64url')}`, address: request.ip };
}

function renderForm(
  ui: UiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  challenge: string,
  userCode: string,
  prefilled: boolean,
  failure?: { error: string; status?: number },
): FastifyReply {
  const csrfToken = ui.csrf.token(request, reply, 'device', challenge);
  return show(ui, reply, deviceCodePage({ challenge, csrfToken, userCode, prefilled, ...failure }));
}

/**
 * `/device`: Portcullis' device verification endpoint (`/oauth2/device/verify`) sends the browser
 * here with a `device_challenge`, and the `user_code` when the device's link carried one. The person
 * enters or confirms the code; once Portcullis accepts it, the usual sign-in and consent follow, and
 * the flow ends at `/device/done` (`urls.device.success`).
 */
export function deviceRoutes(app: FastifyInstance, ui: UiContext): void {
  app.get('/device', async (request, reply) => {
    const challenge = challengeFrom(request, 'device_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    const userCode = (param(request.query, 'user_code') ?? '').trim().slice(0, MAX_CODE);
    return renderForm(ui, request, reply, challenge, userCode, userCode !== '');
  });

  app.post('/device', async (request, reply) => {
    const challenge = challengeFrom(request, 'device_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    if (crossSite(request) || !ui.csrf.check(request, 'device', challenge, param(request.body, 'csrf_token'))) return refuseForm(ui, reply);
    const typed = (param(request.body, 'user_code') ?? '').trim();
    if (typed === '' || typed.length > MAX_CODE) {
      return renderForm(ui, request, reply, challenge, typed.slice(0, MAX_CODE), false, { error: 'Enter the code your device shows.' });
    }
    const keys = throttleKeys(request, challenge);
    const wait = ui.signIns.retryAfter(keys);
    if (wait > 0) {
      // Refused before Portcullis is asked, so a right code cannot be told from a wrong one while locked.
      ui.logger.info({ retry_after: wait }, 'device code refused: too many wrong codes');
      reply.header('retry-after', String(wait));
      return renderForm(ui, request, reply, challenge, typed, false, {
        error: `Too many wrong codes. Try again in ${wait} second${wait === 1 ? '' : 's'}.`,
        status: 429,
      });
    }
    for (const userCode of candidates(typed)) {
      try {
        const { data } = await ui.api.acceptUserCodeRequest({
          deviceChallenge: challenge,
          acceptDeviceUserCodeRequest: { user_code: userCode },
        });
        ui.signIns.succeeded(keys);
        ui.logger.info('device code accepted');
        return redirect(reply, data.redirect_to);
      } catch (error) {
        const status = adminStatus(error);
        if (status === 429) {
          // Portcullis' own limit on codes tried with one challenge: a fresh link gives a fresh page.
          ui.signIns.failed(keys);
          ui.logger.info('device code refused: too many codes tried with this challenge');
          return renderForm(ui, request, reply, challenge, typed, false, {
            error: 'Too many codes were tried on this page. Open the link from your device again.',
            status: 429,
          });
        }
        // 400: no pending device request has this code (wrong, expired or used). Anything else (an
        // expired or unknown challenge, Portcullis unreachable) is the error handler's to explain.
        if (status !== 400) throw error;
      }
    }
    ui.signIns.failed(keys);
    ui.logger.info('device code refused: not a pending code');
    return renderForm(ui, request, reply, challenge, typed, false, {
      error: 'That code is not right, or it has expired. Check the code your device shows and try again.',
    });
  });

  app.get('/device/done', async (_request, reply) => show(ui, reply, deviceDonePage()));
}
