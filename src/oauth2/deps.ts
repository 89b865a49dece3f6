import type { FlowDeps } from '../flow/deps.js';
import type { Registry } from '../registry.js';

// The slices of the registry oauth2/ uses, so a signature shows what a module may touch (as Hydra's
// per-package registries do). Route modules take the whole registry; what they call takes a slice.

/** Signing and verifying this server's own JWTs (ID tokens; discovery names the key's algorithm). */
export type SigningKeyDeps = Pick<Registry, 'config' | 'keys'>;

/** Minting codes and tokens (`issue.ts`): the token service, ID-token signing, nonces and request ids. */
export type TokenIssuingDeps = SigningKeyDeps & Pick<Registry, 'keyring' | 'tokens' | 'random' | 'clock'>;

/** Calling the token hooks: their settings, the outbound tracing, their metrics. */
export type TokenHookDeps = Pick<Registry, 'config' | 'tracing' | 'metrics'>;

/** A grant handler: minting and the token hooks, plus the stores a grant spends and writes (in one unit of work) and the clock. */
export type GrantDeps = TokenIssuingDeps & TokenHookDeps & Pick<Registry, 'persister' | 'tokenStore' | 'devices' | 'clock'>;

/** DPoP proofs (`dpop/`): the settings, the nonce key, the used proof ids, the verified proof keys and the clock their `iat` is checked against. */
export type DpopDeps = Pick<Registry, 'config' | 'keyring' | 'usedJtis' | 'dpopKeys' | 'clock'>;

/** Client authentication: the clients, the verified-secret and jwks_uri caches, the hasher, used assertion ids. */
export type ClientAuthDeps = ClientKeysDeps & Pick<Registry, 'clients' | 'hasher' | 'usedJtis'>;

/** Verifying a JWT a client signed with its registered keys (`jwks`, or the cached `jwks_uri`). */
export type ClientKeysDeps = Pick<Registry, 'config' | 'clientAuth'>;

/** Reading a presented token and its client (introspection, revocation, per-client CORS). */
export type TokenLookupDeps = Pick<Registry, 'config' | 'clients' | 'tokens'>;

/** Storing and taking pushed authorization requests (RFC 9126): sealed with the keyring, expiring by the clock. */
export type PushedRequestDeps = Pick<Registry, 'config' | 'keyring' | 'random' | 'clock' | 'persister'>;

/** Checking an authorization request: its client, the settings, the keys that verify an `id_token_hint` and request objects, pushed requests. */
export type AuthorizeRequestDeps = SigningKeyDeps & ClientKeysDeps & PushedRequestDeps & Pick<Registry, 'clients' | 'tracing'>;

/** The authorization endpoint's legs: the request checks, the flow, minting, and the unit of work that stores both. */
export type AuthorizeDeps = AuthorizeRequestDeps & FlowDeps & TokenIssuingDeps & Pick<Registry, 'persister' | 'metrics'>;
