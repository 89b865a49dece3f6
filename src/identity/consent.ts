import type { OAuth2ConsentRequest } from '@ory/hydra-client';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { idTokenClaims } from './claims.js';
import { challengeFrom, crossSite, fromDevice, missingChallenge, param, redirect, refuseForm, show, type UiContext } from './context.js';
import { consentPage } from './pages.js';

const clientName = (consent: OAuth2ConsentRequest) => consent.client?.client_name || consent.client?.client_id || 'An application';

/**
 * Grants what the application asked for, with the person's claims for those scopes in the ID token,
 * and sends the browser back to Portcullis.
 */
async function grant(ui: UiContext, reply: FastifyReply, consent: OAuth2ConsentRequest, remember: boolean): Promise<FastifyReply> {
  const user = consent.subject ? await ui.users.findById(consent.subject) : undefined;
  if (!user) {
    // Signed in earlier (a remembered session), deleted since.
    const { data } = await ui.api.rejectOAuth2ConsentRequest({
      consentChallenge: consent.challenge,
      rejectOAuth2Request: { error: 'access_denied', error_description: 'The account no longer exists.' },
    });
    return redirect(reply, data.redirect_to);
  }
  const scope = consent.requested_scope ?? [];
  const { data } = await ui.api.acceptOAuth2ConsentRequest({
    consentChallenge: consent.challenge,
    acceptOAuth2ConsentRequest: {
      grant_scope: scope,
      grant_access_token_audience: consent.requested_access_token_audience ?? [],
      remember,
      ...(remember ? { remember_for: ui.settings.consentRememberFor } : {}),
      session: { id_token: idTokenClaims(user, scope), access_token: {} },
    },
  });
  return redirect(reply, data.redirect_to);
}

/**
 * `/consent`: Portcullis sends the browser here with a `consent_challenge` once someone has signed in.
 * A remembered consent, or a client trusted to skip consent, is granted at once; otherwise the person
 * sees what the application asks for, in plain words, and allows or denies it.
 */
export function consentRoutes(app: FastifyInstance, ui: UiContext): void {
  app.get('/consent', async (request, reply) => {
    const challenge = challengeFrom(request, 'consent_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    const { data: consent } = await ui.api.getOAuth2ConsentRequest({ consentChallenge: challenge });
    // A remembered consent was granted before; the claims still come from the account as it is now.
    if (consent.skip || consent.client?.skip_consent) return grant(ui, reply, consent, false);

    const client = consent.client;
    return show(
      ui,
      reply,
      consentPage({
        challenge: consent.challenge,
        csrfToken: ui.csrf.token(request, reply, 'consent', consent.challenge),
        clientName: clientName(consent),
        logoUri: client?.logo_uri,
        policyUri: client?.policy_uri,
        tosUri: client?.tos_uri,
        user: consent.subject ? await ui.users.findById(consent.subject) : undefined,
        subject: consent.subject ?? '',
        scopes: consent.requested_scope ?? [],
        audience: consent.requested_access_token_audience ?? [],
        device: fromDevice(consent.request_url),
      }),
    );
  });

  app.post('/consent', async (request, reply) => {
    const challenge = challengeFrom(request, 'consent_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    if (crossSite(request) || !ui.csrf.check(request, 'consent', challenge, param(request.body, 'csrf_token')))
      return refuseForm(ui, reply);
    // What is granted comes from Portcullis, never from the form.
    const { data: consent } = await ui.api.getOAuth2ConsentRequest({ consentChallenge: challenge });
    if (param(request.body, 'action') !== 'allow') {
      const { data } = await ui.api.rejectOAuth2ConsentRequest({
        consentChallenge: challenge,
        rejectOAuth2Request: { error: 'access_denied', error_description: 'The user denied the request.' },
      });
      return redirect(reply, data.redirect_to);
    }
    return grant(ui, reply, consent, param(request.body, 'remember') === '1');
  });
}
