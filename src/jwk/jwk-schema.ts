/** A JSON Web Key as the key API and `/.well-known/jwks.json` answer it (private members included; the public set drops them). */
export const jwkSchema = {
  type: 'object',
  properties: {
    kty: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    use: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    n: { type: 'string' },
    e: { type: 'string' },
    d: { type: 'string' },
    p: { type: 'string' },
    q: { type: 'string' },
    dp: { type: 'string' },
    dq: { type: 'string' },
    qi: { type: 'string' },
    k: { type: 'string' },
    x5c: { type: 'array', items: { type: 'string' } },
    x5t: { type: 'string' },
    'x5t#S256': { type: 'string' },
    x5u: { type: 'string' },
  },
  required: ['kty'],
} as const;

/** The members only a private or symmetric key has. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
