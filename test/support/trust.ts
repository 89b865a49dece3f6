/**
 * A trusted issuer of the JWT-bearer trust API as the tests play it: its ES256 key pair, a trust
 * relationship for it through Ory's SDK, and discovery's `grant_types_supported`. Shared by the
 * JWT-bearer grant and token exchange tests.
 */
import type { JsonWebKey as SdkJwk } from '@ory/hydra-client';
import type { JWK } from 'jose';
import type { TestServer } from './server.js';

export { issuerKey } from './jwt-bearer.js';

/** An expiry a day from now, in RFC 3339. */
export const IN_A_DAY = () => new Date(Date.now() + 86_400_000).toISOString();

/** Trusts `issuer`'s key for a subject (or any) and scope, for a day. */
export async function trustIssuer(
  server: TestServer,
  issuer: string,
  key: JWK,
  grant: { subject: string } | { allow_any_subject: true },
  scope: string[],
): Promise<void> {
  await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
    trustOAuth2JwtGrantIssuer: { issuer, ...grant, scope, jwk: key as unknown as SdkJwk, expires_at: IN_A_DAY() },
  });
}

/** The grant types the server's discovery document advertises. */
export async function grantTypesSupported(server: TestServer): Promise<string[]> {
  const metadata = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as {
    grant_types_supported: string[];
  };
  return metadata.grant_types_supported;
}
