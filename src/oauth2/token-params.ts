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
