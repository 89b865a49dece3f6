import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomString } from '../crypto/random.js';
import { ConfigError } from './load.js';
import type { Config } from './schema.js';

/** Where development mode keeps the system secret it generated, so restarts can still decrypt. */
export const DEV_SECRET_FILE = 'data/system-secret';

/**
 * Makes sure `secrets.system` is set. Development mode generates one secret and persists it;
 * production refuses to start without one. Returns a warning to log loudly, if any.
 */
export function ensureSystemSecret(config: Config, file = DEV_SECRET_FILE): string | undefined {
  if (config.secrets.system.length > 0) return undefined;
  if (!config.dev) {
    throw new ConfigError(
      'secrets.system: required (set SECRETS_SYSTEM to a random string of at least 16 characters, or start with --dev)',
    );
  }
  let secret = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (secret.length < 16) {
    secret = randomString(32);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  }
  config.secrets.system = [secret];
  return `NO SYSTEM SECRET WAS CONFIGURED: development mode is using a generated secret stored in ${file}. Do not run like this in production: set secrets.system (SECRETS_SYSTEM).`;
}
