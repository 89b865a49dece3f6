import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { HttpLimits } from '../http/plugins/hardening.js';
import type { SignInThrottleSettings } from './throttle.js';

/** The identity UI's configuration (`ui.*`), with defaults filled in from the rest of the config. */
export interface UiSettings {
  port: number;
  host: string;
  /** The Portcullis admin API, without a trailing slash. */
  adminUrl: string;
  /** Sent as `Authorization: Bearer` to the admin API when not empty. */
  adminApiKey: string;
  /** The UI's external URL when configured, else empty (then derived from where it listens). */
  publicUrl: string;
  secrets: string[];
  secureCookies: boolean;
  /** Shown in titles and the page header. */
  product: string;
  /** Seconds. */
  loginRememberFor: number;
  /** Seconds; 0 = until revoked. */
  consentRememberFor: number;
  /** Milliseconds a stopping UI waits for requests in flight. */
  shutdownTimeout: number;
  /** Form fields, arrival time and connections, bounded as on the API listeners (`serve.*`). */
  httpLimits: HttpLimits;
  /** `ui.login.throttle.*` and the bound on concurrent password checks. */
  signInThrottle: SignInThrottleSettings;
}

export function uiSettings(config: Config): UiSettings {
  const { ui } = config;
  const secrets = ui.secrets.length > 0 ? ui.secrets : config.secrets.system;
  if (secrets.length === 0) {
    throw new ConfigError(
      'ui.secrets: required (set UI_SECRETS or SECRETS_SYSTEM to a random string of at least 16 characters, or start with --dev)',
    );
  }
  return {
    port: ui.port,
    host: ui.host,
    adminUrl: ui.admin_url.replace(/\/+$/, ''),
    adminApiKey: ui.admin_api_key,
    publicUrl: ui.public_url.replace(/\/+$/, ''),
    secrets,
    secureCookies: ui.public_url ? ui.public_url.startsWith('https:') : !config.dev,
    product: ui.title || 'Portcullis',
    loginRememberFor: Math.round(ui.login.remember_for / 1000),
    consentRememberFor: Math.round(ui.consent.remember_for / 1000),
    shutdownTimeout: config.serve.shutdown_timeout,
    httpLimits: {
      max_form_fields: config.serve.max_form_fields,
      request_timeout: config.serve.request_timeout,
      max_connections: config.serve.max_connections,
    },
    signInThrottle: {
      accountFreeAttempts: ui.login.throttle.account_free_attempts,
      addressFreeAttempts: ui.login.throttle.address_free_attempts,
      baseDelayMs: ui.login.throttle.base_delay,
      maxDelayMs: ui.login.throttle.max_delay,
      decayMs: ui.login.throttle.decay,
      maxEntries: ui.login.throttle.max_entries,
      maxConcurrentHashes: ui.login.max_concurrent_hashes,
      maxQueuedHashes: ui.login.max_queued_hashes,
    },
  };
}
