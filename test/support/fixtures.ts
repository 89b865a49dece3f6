import type { OAuth2Client } from '../../src/client/model.js';
import type { StoredClient } from '../../src/client/repository.js';
import type { StoredKey } from '../../src/jwk/repository.js';

/** A client row as repositories store it: only the fields a store test looks at, the rest as given. */
export const storedClient = (id: string, extra: Partial<OAuth2Client> = {}, registrationTokenHash: string | null = null): StoredClient => ({
  client: {
    client_id: id,
    client_name: '',
    owner: '',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...extra,
  } as OAuth2Client,
  secretHash: 'hash',
  registrationTokenHash,
});

/** A key row of a set, with a stand-in sealed private part unless `extra` says otherwise. */
export const storedKey = (setId: string, kid: string, extra: Partial<StoredKey> = {}): StoredKey => ({
  setId,
  kid,
  publicJwk: JSON.stringify({ kty: 'EC', kid }),
  sealedPrivateJwk: `sealed-${kid}`,
  createdAt: 1_700_000_000_000,
  ...extra,
});
