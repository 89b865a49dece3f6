import type { Registry } from '../registry.js';

/**
 * The slice of the registry the login, consent and logout flows use: the settings, the keyrings that
 * seal flow state and sign the session cookie, random CSRF values, the login and consent sessions,
 * the clients shown to login and consent apps, the clock and the flow metrics. Nothing that mints or
 * stores tokens: flow/ decides, oauth2/ mints.
 */
export type FlowDeps = Pick<Registry, 'config' | 'keyring' | 'cookieKeyring' | 'random' | 'sessions' | 'clients' | 'clock' | 'metrics'>;

/** Ending a login session, and the identity provider's session it was accepted with. */
export type IdentityProviderDeps = Pick<Registry, 'config' | 'logger' | 'sessions' | 'tracing'>;

/** The device flow's legs (RFC 8628): the flow's slice, the device requests, and the user-code guessing limits. */
export type DeviceFlowDeps = FlowDeps & Pick<Registry, 'devices' | 'deviceGuessing'>;
