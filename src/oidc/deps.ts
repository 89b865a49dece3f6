import type { FlowDeps } from '../flow/deps.js';
import type { DpopDeps } from '../oauth2/deps.js';
import type { Registry } from '../registry.js';

// The slices of the registry oidc/ uses; route modules take the whole registry, what they call a slice.

/** Back-channel logout: the session's clients, the ID-token key that signs logout tokens, the log. */
export type BackChannelDeps = Pick<Registry, 'config' | 'logger' | 'keys' | 'clients' | 'sessions' | 'tracing'>;

/** A Bearer- or DPoP-token resource request (userinfo, credentials): the token, the claims it answers with, the DPoP proof. */
export type BearerDeps = DpopDeps & Pick<Registry, 'config' | 'tokens' | 'clients'>;

/** A credential request's proof: its nonce (sealed by the keyring, spent once) and the issuer's keys. */
export type CredentialProofDeps = Pick<Registry, 'config' | 'keyring' | 'keys' | 'usedJtis'>;

/** RP-initiated logout: the logout flow, the login session cookie, the `id_token_hint`, the notifications. */
export type LogoutDeps = FlowDeps & BackChannelDeps;
