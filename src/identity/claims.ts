import type { User } from './user-store.js';

/**
 * What the consent page tells a person each scope means, and which of their claims each scope
 * releases into the ID token (OpenID Connect Core §5.4).
 */

export interface ScopeDescription {
  /** What the application will be able to do, as a person would say it. */
  title: string;
  detail: string;
}

const DESCRIPTIONS: Record<string, ScopeDescription> = {
  openid: { title: 'Confirm who you are', detail: 'Sign you in with your account, using an identifier that stays the same.' },
  profile: { title: 'See your profile', detail: 'Your name, username, picture and other basic profile details.' },
  email: { title: 'See your email address', detail: 'Your email address and whether it has been verified.' },
  address: { title: 'See your postal address', detail: 'The address saved in your account.' },
  phone: { title: 'See your phone number', detail: 'Your phone number and whether it has been verified.' },
  offline_access: { title: 'Stay connected', detail: 'Keep access while you are away, until you sign out of it or revoke it.' },
};
DESCRIPTIONS.offline = DESCRIPTIONS.offline_access as ScopeDescription;

/** The plain-words description of a well-known scope; undefined for the application's own scopes (shown by name). */
export function describeScope(scope: string): ScopeDescription | undefined {
  return Object.hasOwn(DESCRIPTIONS, scope) ? DESCRIPTIONS[scope] : undefined;
}

const PROFILE_CLAIMS = [
  'name',
  'family_name',
  'given_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
] as const;

/**
 * The claims to put in the ID token (the consent's `session.id_token`) for the granted scopes.
 * `sub` is not among them: the server sets it from the login.
 */
export function idTokenClaims(user: User, grantedScope: readonly string[]): Record<string, unknown> {
  const granted = new Set(grantedScope);
  const { claims } = user;
  const out: Record<string, unknown> = {};
  if (granted.has('profile')) {
    for (const name of PROFILE_CLAIMS) if (claims[name] !== undefined) out[name] = claims[name];
    out.preferred_username ??= user.username;
    out.updated_at = Math.floor(user.updatedAt.getTime() / 1000);
  }
  if (granted.has('email') && user.email !== undefined) {
    out.email = user.email;
    out.email_verified = claims.email_verified ?? false;
  }
  if (granted.has('address') && claims.address !== undefined) out.address = claims.address;
  if (granted.has('phone') && claims.phone_number !== undefined) {
    out.phone_number = claims.phone_number;
    out.phone_number_verified = claims.phone_number_verified ?? false;
  }
  return out;
}
