import { inflateRawSync } from 'node:zlib';

/**
 * A compact binary form for flow state, so that challenges stay short (Hydra's JSON-in-AEAD
 * challenges reach 1–2 KB and break URL length limits). Each entry is a one-byte key code (or an
 * inline key name), a value kind, and the value in its smallest lossless form: UUIDs as 16 bytes,
 * base64url strings (states, nonces, PKCE challenges) as their raw bytes, everything else UTF-8.
 * Not compressed: deflate saved little at this size for what it cost (see `pack`).
 */

export type FlowValue = string | number | boolean | string[] | Record<string, unknown> | null;
export type FlowRecord = Record<string, FlowValue>;

/** Keys seen in almost every flow get one byte. Append only: codes are part of the wire format. */
const KEYS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'response_mode',
  'prompt',
  'max_age',
  'id_token_hint',
  'acr_values',
  'login_hint',
  'ui_locales',
  'display',
  'audience',
  'claims_locales',
  'request',
  'request_uri',
  'claims',
  'registration',
  // flow fields
  '$flow',
  '$at',
  '$csrf',
  '$skip',
  '$sub',
  '$sid',
  '$auth',
  '$rem',
  '$remfor',
  '$acr',
  '$amr',
  '$ctx',
  '$fsi',
  '$ext',
  '$idp',
  '$bind',
  '$scope',
  '$aud',
  '$sat',
  '$sidt',
  '$crem',
  '$cremfor',
  '$login',
  '$q',
  '$err',
  '$newsid',
  // logout
  '$cid',
  'post_logout_redirect_uri',
];
const CODE: ReadonlyMap<string, number> = new Map(KEYS.map((key, index) => [key, index]));
const INLINE_KEY = 0xff;

/** The preset dictionary of state written deflated (flag 1) by earlier versions, still read for flows in flight. */
export const DEFLATE_DICTIONARY = Buffer.from(
  'S256 code id_token token query fragment form_post login consent none select_account page popup ' +
    'openid offline_access offline profile email address phone ' +
    'http://localhost:http://127.0.0.1:https://www./callback/oauth2/callback/auth/callback.com/',
);

enum Kind {
  Utf8 = 0,
  Uuid = 1,
  Base64Url = 2,
  Json = 3,
  True = 4,
  False = 5,
  Null = 6,
  Number = 7,
  /** Numbers that are not small non-negative integers, as text. */
  Text = 8,
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]{16,}$/;

export function pack(record: FlowRecord): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const code = CODE.get(key);
    parts.push(code === undefined ? Buffer.concat([Buffer.of(INLINE_KEY), lengthPrefixed(Buffer.from(key))]) : Buffer.of(code));
    parts.push(encodeValue(value));
  }
  // Stored uncompressed (flag 0): deflate saved a tenth of the length (304 rather than 336 characters
  // for a typical login challenge) for about 4% of the CPU time of a whole flow (docs/performance.md).
  return Buffer.concat([Buffer.of(0), ...parts]);
}

export function unpack(buffer: Buffer): FlowRecord {
  const body =
    buffer[0] === 1 ? inflateRawSync(buffer.subarray(1), { maxOutputLength: 1 << 20, dictionary: DEFLATE_DICTIONARY }) : buffer.subarray(1);
  const record: FlowRecord = {};
  let offset = 0;
  const take = (length: number) => {
    if (offset + length > body.length) throw new Error('truncated flow state');
    const slice = body.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  const takeLengthPrefixed = () => {
    const [length, size] = readVarint(body, offset);
    offset += size;
    return take(length);
  };
  while (offset < body.length) {
    const code = take(1)[0] as number;
    const key = code === INLINE_KEY ? takeLengthPrefixed().toString('utf8') : KEYS[code];
    if (key === undefined) throw new Error('unknown flow key');
    const kind = take(1)[0] as Kind;
    switch (kind) {
      case Kind.True:
        record[key] = true;
        break;
      case Kind.False:
        record[key] = false;
        break;
      case Kind.Null:
        record[key] = null;
        break;
      case Kind.Uuid: {
        const hex = take(16).toString('hex');
        record[key] = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
        break;
      }
      case Kind.Base64Url:
        record[key] = takeLengthPrefixed().toString('base64url');
        break;
      case Kind.Number: {
        const [value, size] = readVarint(body, offset);
        offset += size;
        record[key] = value;
        break;
      }
      case Kind.Text:
        record[key] = Number(takeLengthPrefixed().toString('utf8'));
        break;
      case Kind.Json:
        record[key] = JSON.parse(takeLengthPrefixed().toString('utf8')) as FlowValue;
        break;
      case Kind.Utf8:
        record[key] = takeLengthPrefixed().toString('utf8');
        break;
      default:
        throw new Error('unknown flow value kind');
    }
  }
  return record;
}

function encodeValue(value: FlowValue): Buffer {
  if (value === true) return Buffer.of(Kind.True);
  if (value === false) return Buffer.of(Kind.False);
  if (value === null) return Buffer.of(Kind.Null);
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 31) return Buffer.concat([Buffer.of(Kind.Number), varint(value)]);
    return Buffer.concat([Buffer.of(Kind.Text), lengthPrefixed(Buffer.from(String(value)))]);
  }
  if (typeof value === 'string') {
    if (UUID.test(value)) return Buffer.concat([Buffer.of(Kind.Uuid), Buffer.from(value.replace(/-/g, ''), 'hex')]);
    if (BASE64URL.test(value) && value.length % 4 !== 1) {
      const bytes = Buffer.from(value, 'base64url');
      if (bytes.toString('base64url') === value) return Buffer.concat([Buffer.of(Kind.Base64Url), lengthPrefixed(bytes)]);
    }
    return Buffer.concat([Buffer.of(Kind.Utf8), lengthPrefixed(Buffer.from(value, 'utf8'))]);
  }
  return Buffer.concat([Buffer.of(Kind.Json), lengthPrefixed(Buffer.from(JSON.stringify(value), 'utf8'))]);
}

function lengthPrefixed(bytes: Buffer): Buffer {
  return Buffer.concat([varint(bytes.length), bytes]);
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
  return Buffer.from(out);
}

function readVarint(buffer: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let offset = start;
  for (;;) {
    if (offset >= buffer.length || shift > 28) throw new Error('bad varint');
    const byte = buffer[offset++] as number;
    value |= (byte & 0x7f) << shift;
    if (byte < 0x80) return [value, offset - start];
    shift += 7;
  }
}
