/**
 * The items of a space-delimited parameter (`scope`, `audience`, `prompt`, `response_type`,
 * `acr_values`, ...; RFC 6749 §3.3): split on single spaces, empty items dropped, order and
 * repeats kept.
 */
export function spaceSeparated(value: string | undefined | null): string[] {
  if (!value) return [];
  return value.split(' ').filter((item) => item !== '');
}

/** The items of a list where any run of whitespace separates (a client's registered `scope`). */
export function whitespaceSeparated(value: string | undefined | null): string[] {
  if (!value) return [];
  return value.split(/\s+/).filter((item) => item !== '');
}
