/**
 * The one parser of HTTP Basic client credentials (RFC 6749 §2.3.1): `Basic base64(id:secret)`, id
 * and secret each `application/x-www-form-urlencoded`. Client authentication, the rate limit's
 * client bucket and per-client CORS all read the header through it, so they agree on who it names.
 */

/**
 * What an `Authorization: Basic` header holds. A part that is not form-url-decodable (a bad
 * `%`-escape) is `undecodable`, which fosite answers with `invalid_request`; any other malformation
 * is `malformed` (`invalid_client`).
 */
export type BasicCredentials =
  | { ok: true; id: string; secret: string }
  | { ok: false; failure: 'malformed' | 'undecodable'; problem: string };

/** Basic credentials from the Authorization header; undefined when the header uses another scheme. */
export function parseBasicCredentials(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const match = /^basic(?:\s+(.*))?$/is.exec(header.trim());
  if (!match) return undefined;
  const malformed = (problem: string): BasicCredentials => ({ ok: false, failure: 'malformed', problem });
  const encoded = (match[1] ?? '').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return malformed('The HTTP Basic credentials are not valid base64.');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return malformed('The HTTP Basic credentials have no ":" between client id and secret.');
  const id = formDecode(decoded.slice(0, colon));
  if (id === undefined) return undecodable('id');
  const secret = formDecode(decoded.slice(colon + 1));
  if (secret === undefined) return undecodable('secret');
  if (id === '') return malformed('The HTTP Basic credentials have an empty client id.');
  return { ok: true, id, secret };
}

/** fosite's hint for a part that does not form-url-decode. */
function undecodable(part: 'id' | 'secret'): BasicCredentials {
  return {
    ok: false,
    failure: 'undecodable',
    problem: `The client ${part} in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'.`,
  };
}

/** One `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte of UTF-8. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
