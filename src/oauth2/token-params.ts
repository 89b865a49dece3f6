import { InvalidRequestError } from '../http/errors.js';
import { spaceSeparated } from '../util/space-separated.js';

/** A parsed `application/x-www-form-urlencoded` body: repeated fields arrive as arrays. */
export type FormBody = Record<string, string | string[] | undefined>;

/** One value of a form field; a repeated field is an `invalid_request` (RFC 6749 §3.1). */
export function single(body: FormBody, name: string): string | undefined {
  const value = body[name];
  if (Array.isArray(value)) throw new InvalidRequestError(`The "${name}" parameter was included more than once.`);
  return value === undefined || value === '' ? undefined : value;
}

/** A space-separated list field (`scope`), or a repeatable one (`audience` may be repeated or space-separated). */
export function list(body: FormBody, name: string): string[] {
  const value = body[name];
  const parts = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return parts.flatMap((part) => spaceSeparated(part));
}

/**
 * A parsed query or form as single values: a repeated parameter keeps its first value and is named
 * in `repeated` (RFC 6749 §3.1: parameters must not repeat); anything but text is left out.
 */
export function singleValues(source: unknown): { params: Record<string, string>; repeated: string[] } {
  const params: Record<string, string> = {};
  const repeated: string[] = [];
  if (!source || typeof source !== 'object') return { params, repeated };
  for (const [name, value] of Object.entries(source as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      repeated.push(name);
      params[name] = String(value[0] ?? '');
    } else if (typeof value === 'string') {
      params[name] = value;
    }
  }
  return { params, repeated };
}
