/** RFC 3986 `absolute-URI` (`scheme ":" hier-part [ "?" query ]`): its characters, no `#`, well-formed escapes. */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?[\]]|%[0-9A-Fa-f]{2})*$/;

/**
 * Whether a value is an absolute URI without a fragment (RFC 3986 §4.3), as RFC 8707 §2 wants a
 * resource indicator: a scheme, then only URI characters; an `http` or `https` URI must also name a host.
 */
export function isAbsoluteUri(value: string): boolean {
  if (!ABSOLUTE_URI.test(value)) return false;
  if (!/^https?:/i.test(value)) return true;
  // An authority must follow (`https:///x` names no host, though WHATWG parsing would read one into it).
  if (!/^https?:\/\/[^/?]/i.test(value)) return false;
  try {
    return new URL(value).hostname !== '';
  } catch {
    return false;
  }
}
