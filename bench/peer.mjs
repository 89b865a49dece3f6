// The benchmark's peer: oidc-provider (the OpenID-certified Node.js provider), in its own process,
// configured as close to Portcullis as its model allows. Started by bench/run.mjs with an IPC
// channel; everything it needs comes from the environment:
//
//   PEER_PORT     the loopback port to listen on
//   PEER_CLIENTS  JSON: [{ client_id, client_secret }]
//   PEER_RESOURCE the resource indicator whose access tokens are RS256 JWTs (W3)
//
// Settings matched to Portcullis: client_secret_basic, client_credentials (with DPoP proofs for W7), opaque access tokens
// (oidc-provider's format unless a resource server asks for JWT), a 2048-bit RS256 signing key,
// introspection, refresh-token rotation on every use, token lifetimes of one hour. Storage is the
// provider's own in-memory adapter: the peer keeps no token durably. People sign in and consent
// through the provider's own development interactions (W5): its login and consent forms, posted by
// bench/lib/flows.mjs as a browser would.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PEER_PORT);
const clients = JSON.parse(process.env.PEER_CLIENTS ?? '[]');
const resource = process.env.PEER_RESOURCE ?? 'urn:bench:api';
const issuer = `http://127.0.0.1:${port}`;
const SCOPES = ['openid', 'offline_access', 'read', 'write'];
const HOUR = 3600;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:9/callback'],
    scope: SCOPES.join(' '),
  })),
  jwks: { keys: [signingKey] },
  scopes: SCOPES,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    // W7: DPoP-bound client_credentials tokens (RFC 9449), no server nonces, as Portcullis by default.
    dPoP: { enabled: true },
    // Any authenticated client may introspect (Portcullis's admin listener answers anyone who reaches it).
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return { scope: 'read write', audience: resource, accessTokenTTL: HOUR, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: HOUR,
    ClientCredentials: HOUR,
    IdToken: HOUR,
    AuthorizationCode: 600,
    RefreshToken: 720 * HOUR,
    Grant: 720 * HOUR,
    Session: 720 * HOUR,
    Interaction: 1800,
  },
});

/**
 * Refresh tokens for W6, minted as an authorization code exchange would leave them. Not from whole
 * flows (as Portcullis's are): a flow writes about nine entries into the provider's in-memory LRU
 * (1000 entries a generation), so the first of the tokens minted in bulk before a run were
 * evicted before they were used ("refresh token not found"); a minted one writes three.
 */
async function mintRefreshTokens(clientId, count) {
  const client = await provider.Client.find(clientId);
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const accountId = `user-${i}`;
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const refresh = new provider.RefreshToken({
      client,
      accountId,
      grantId,
      scope: 'openid offline_access',
      gty: 'authorization_code',
      authTime: Math.floor(Date.now() / 1000),
    });
    tokens.push(await refresh.save());
  }
  return tokens;
}

process.on('message', (message) => {
  if (message?.type === 'mint-refresh-tokens') {
    mintRefreshTokens(message.clientId, message.count).then(
      (tokens) => process.send({ type: 'refresh-tokens', id: message.id, tokens }),
      (error) => process.send({ type: 'refresh-tokens', id: message.id, error: String(error?.stack ?? error) }),
    );
  }
});
process.on('SIGTERM', () => process.exit(0));

const server = provider.listen(port, '127.0.0.1', () => process.send?.({ type: 'ready', url: issuer }));
server.keepAliveTimeout = 60_000;
