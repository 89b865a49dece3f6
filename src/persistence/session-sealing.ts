import type { Keyring } from '../crypto/keyring.js';
import { LruMap } from '../util/lru.js';

const SEAL_PURPOSE = 'session-at-rest';
/** Opened sessions remembered (each a few hundred bytes to a few kilobytes of JSON). */
const OPENED_CAPACITY = 4096;

/**
 * How the session data stored with tokens (`oauth2_tokens.session`) and consents (`consent_sessions.document`)
 * is written: sealed whole with the system keyring (AES-256-GCM, `oauth2.session.encrypt_at_rest`, as Hydra
 * encrypts it) or as plain JSON. Each value is bound to its row's key (associated data), so a sealed value
 * copied into another row does not open. Reading tells the two apart by their first character: JSON objects
 * start with `{`, sealed values with `v1.`. So rows written before encryption was turned on (or while it was
 * off) stay readable as they are, and a rotated `secrets.system` still opens rows sealed with an older secret.
 */
export class SessionSealing {
  /**
   * Sealed values opened lately, by their sealed text, with the row key they opened under. Opening
   * is a pure function of the two (and of the keyring, fixed for the process), so a hit skips only
   * the AES-GCM work: a token introspected or refreshed again is read from its row every time.
   */
  private readonly opened = new LruMap<string, { rowKey: string; json: string }>(OPENED_CAPACITY);

  /** Without a keyring nothing is sealed, and a sealed value does not open (the CLI's deleting commands). */
  constructor(private readonly sealing: { keyring: Keyring; encrypt: boolean } | undefined) {}

  write(value: object, rowKey: string): string {
    const json = JSON.stringify(value);
    return this.sealing?.encrypt ? this.sealing.keyring.seal(SEAL_PURPOSE, json, rowKey) : json;
  }

  /** The stored value, or undefined when it is sealed with no configured secret (or was altered). */
  read<T>(stored: string, rowKey: string): T | undefined {
    if (stored.startsWith('{')) return JSON.parse(stored) as T;
    const remembered = this.opened.get(stored);
    // The row key is the associated data: a sealed value copied into another row still does not open.
    if (remembered?.rowKey === rowKey) return JSON.parse(remembered.json) as T;
    const opened = this.sealing?.keyring.open(SEAL_PURPOSE, stored, rowKey);
    if (!opened) return undefined;
    const json = opened.toString('utf8');
    this.opened.set(stored, { rowKey, json });
    // A fresh object on every read: callers may change what they get.
    return JSON.parse(json) as T;
  }
}

/** Writes plain JSON and opens nothing sealed: for the stores of commands that only delete rows. */
export const PLAIN_SESSIONS = new SessionSealing(undefined);
