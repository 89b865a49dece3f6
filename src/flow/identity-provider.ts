import { sendRequest } from '../http/outbound.js';
import type { IdentityProviderDeps } from './deps.js';

/** How long a request to the identity provider may take (Hydra's). */
const IDENTITY_PROVIDER_TIMEOUT_MS = 30_000;

/**
 * Ends a login session and, as Hydra does with Ory Kratos, the identity provider's session it was accepted
 * with (`identity_provider_session_id`): `DELETE <urls.identity_provider.url>/admin/sessions/<id>`, in the
 * background, so a slow or failing identity provider never holds up the logout; a failure is logged.
 * False when the session was already gone (another logout ended it and told the identity provider).
 */
export async function endLoginSession(registry: IdentityProviderDeps, sid: string): Promise<boolean> {
  const session = await registry.sessions.findLoginSession(sid);
  if (!(await registry.sessions.deleteLoginSession(sid))) return false;
  const idpSessionId = session?.identityProviderSessionId ?? '';
  if (idpSessionId !== '') void disableIdentityProviderSession(registry, sid, idpSessionId);
  return true;
}

async function disableIdentityProviderSession(
  { config, logger, tracing }: Pick<IdentityProviderDeps, 'config' | 'logger' | 'tracing'>,
  sid: string,
  idpSessionId: string,
): Promise<void> {
  const { url, headers } = config.urls.identity_provider;
  if (!url) return;
  const target = new URL(`admin/sessions/${encodeURIComponent(idpSessionId)}`, url.endsWith('/') ? url : `${url}/`);
  try {
    // The operator's own service (often on a private network, as Kratos is): no private-range rule,
    // as for any URL from the configuration; still no redirects, one deadline, and a traced span.
    const status = await sendRequest(
      target.toString(),
      { disallowPrivateIpRanges: false, privateIpExceptionUrls: [] },
      { method: 'DELETE', headers: { ...headers, accept: 'application/json' } },
      { timeoutMs: IDENTITY_PROVIDER_TIMEOUT_MS, tracing },
    );
    if (status < 200 || status > 299) throw new Error(`the identity provider answered ${status}`);
  } catch (error) {
    logger.error({ sid, err: { message: (error as Error).message } }, 'Unable to revoke the session at the identity provider.');
  }
}
