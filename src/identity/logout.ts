import type { FastifyInstance } from 'fastify';
import { challengeFrom, crossSite, missingChallenge, param, redirect, refuseForm, show, type UiContext } from './context.js';
import { logoutPage, stillSignedInPage } from './pages.js';

/**
 * `/logout`: Portcullis sends the browser here with a `logout_challenge` when someone signs out
 * (usually from an application). The person confirms, unless the client may skip that.
 */
export function logoutRoutes(app: FastifyInstance, ui: UiContext): void {
  app.get('/logout', async (request, reply) => {
    const challenge = challengeFrom(request, 'logout_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    const { data: logout } = await ui.api.getOAuth2LogoutRequest({ logoutChallenge: challenge });
    if (logout.client?.skip_logout_consent) {
      const { data } = await ui.api.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
      return redirect(reply, data.redirect_to);
    }
    const csrfToken = ui.csrf.token(request, reply, 'logout', challenge);
    const clientName = logout.client ? logout.client.client_name || logout.client.client_id : undefined;
    return show(ui, reply, logoutPage({ challenge, csrfToken, clientName }));
  });

  app.post('/logout', async (request, reply) => {
    const challenge = challengeFrom(request, 'logout_challenge');
    if (!challenge) return missingChallenge(ui, reply);
    if (crossSite(request) || !ui.csrf.check(request, 'logout', challenge, param(request.body, 'csrf_token'))) return refuseForm(ui, reply);
    if (param(request.body, 'action') === 'sign_out') {
      const { data } = await ui.api.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
      return redirect(reply, data.redirect_to);
    }
    await ui.api.rejectOAuth2LogoutRequest({ logoutChallenge: challenge });
    return redirect(reply, 'logout/cancelled');
  });

  app.get('/logout/cancelled', async (_request, reply) => show(ui, reply, stillSignedInPage()));
}
