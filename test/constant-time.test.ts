/**
 * Constant-time comparison of secrets (RFC 9700 §4.x, and plain hygiene): no timing test is reliable
 * in CI, so the source is checked instead. The rule reads names, not places, so moving or renaming a
 * function does not break it: anywhere in src/, an equality (`===`, `!==`, `==`, `!=`) or a
 * `Buffer#equals` whose one side names secret material (a client secret, a digest, a signature, a
 * hash, a PKCE challenge or verifier, a token, a MAC, a CSRF value, a password or key, a presented or
 * expected credential) and whose other side is not a literal, a constant or a length fails, unless
 * it is on the allow-list below with its reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** Words that, in an identifier, mean it holds secret material. */
const SECRET_WORDS = new Set([
  'secret',
  'digest',
  'signature',
  'hash',
  'challenge',
  'verifier',
  'token',
  'mac',
  'csrf',
  'password',
  'key',
  'presented',
  'expected',
  'credential',
  'credentials',
]);

/**
 * Last words that make an identifier metadata *about* a secret rather than the secret
 * (`tokenEndpointAuthMethod`, `codeChallengeMethod`, `refreshTokenLifespan`, `secretHashAt` …).
 */
const METADATA_WORDS = new Set([
  'alg',
  'algs',
  'at',
  'auth',
  'count',
  'endpoint',
  'exp',
  'expires',
  'format',
  'hint',
  'id',
  'ids',
  'kind',
  'kinds',
  'length',
  'lifespan',
  'method',
  'methods',
  'mode',
  'name',
  'names',
  'prefix',
  'prefixes',
  'service',
  'set',
  'size',
  'store',
  'strategy',
  'type',
  'types',
  'uri',
  'uris',
  'url',
  'urls',
]);

/**
 * Comparisons the rule flags that are not secret comparisons, each with its reason. An entry that no
 * longer matches anything fails the test, so the list cannot go stale.
 */
const ALLOWED: Array<{ file: string; comparison: string; reason: string }> = [
  {
    file: 'oauth2/grants/token-exchange.ts',
    comparison: 'requested === TOKEN_TYPES.access_token',
    reason: 'compares a token type name (an RFC 8693 URN), not a token',
  },
  {
    file: 'persistence/upsert.ts',
    comparison: 'column !== key',
    reason: 'compares column names while building an upsert, not key material',
  },
  {
    file: 'persistence/upsert.ts',
    comparison: 'firstOfKey.get(row[keyColumn]) === row',
    reason: 'tells whether a row object is the first with its key value (object identity), not key material',
  },
  {
    file: 'persistence/session-sealing.ts',
    comparison: 'remembered?.rowKey === rowKey',
    reason:
      'compares the key of the row just read with the row a remembered session was opened for; both come from the database, neither from a request',
  },
];

interface Finding {
  file: string;
  comparison: string;
}

const words = (identifier: string): string[] =>
  identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_]+/)
    .filter(Boolean);

function namesSecret(identifier: string): boolean {
  const parts = words(identifier);
  return parts.some((word) => SECRET_WORDS.has(word)) && !METADATA_WORDS.has(parts.at(-1) ?? '');
}

/** A literal, or a module constant (`SCREAMING_CASE`): public values, which may be compared plainly. */
const PUBLIC_VALUE = /^(undefined|null|true|false|-?\d[\d_]*(\.\d+)?|'[^']*'|"[^"]*"|`[^`$]*`|[A-Z][A-Z0-9_]*)$/;
const LENGTH = /\.(length|size|byteLength)$/;

/** The names an operand's value is known by: a property chain's last name; a call's callee and arguments. */
function valueNames(operand: string): string[] {
  const call = /^([\w$.?!]+)\(([^()]*)\)$/.exec(operand);
  if (call) return [lastName(call[1] ?? ''), ...((call[2] ?? '').match(/[A-Za-z_$][\w$]*/g) ?? [])];
  return [lastName(operand)];
}

const lastName = (chain: string): string =>
  chain
    .replace(/[[\]'"?!]+/g, '.')
    .split('.')
    .filter(Boolean)
    .at(-1) ?? '';

const isSecret = (operand: string): boolean =>
  !PUBLIC_VALUE.test(operand) && !LENGTH.test(operand) && valueNames(operand).some(namesSecret);
const isHarmless = (operand: string): boolean => PUBLIC_VALUE.test(operand) || LENGTH.test(operand);

const OPERAND = String.raw`[\w$.?!\[\]'"\x60-]+(?:\([^()]*\))?`;
const EQUALITY = new RegExp(String.raw`(typeof\s+)?(${OPERAND})\s*(?:===|!==|==|!=)\s*(typeof\s+)?(${OPERAND})`, 'g');
const BUFFER_EQUALS = new RegExp(String.raw`(${OPERAND})\.equals\(([^()]*(?:\([^()]*\))?[^()]*)\)`, 'g');

/** The plain comparisons of secret material in one source text (comments ignored). */
function plainSecretComparisons(source: string, file: string): Finding[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const findings: Finding[] = [];
  for (const [comparison, typeofLeft, left, typeofRight, right] of code.matchAll(EQUALITY)) {
    // `typeof x === 'string'` compares a type name, not x.
    if (typeofLeft || typeofRight || left === undefined || right === undefined) continue;
    if ((isSecret(left) && !isHarmless(right)) || (isSecret(right) && !isHarmless(left))) findings.push({ file, comparison });
  }
  for (const [comparison, receiver, argument] of code.matchAll(BUFFER_EQUALS)) {
    if (isSecret(receiver ?? '') || isSecret((argument ?? '').trim())) findings.push({ file, comparison });
  }
  return findings;
}

const SRC = new URL('../src/', import.meta.url);
const sources = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts'))
  .map((file) => ({ file, source: readFileSync(new URL(file, SRC), 'utf8') }));

const allowed = (finding: Finding) => ALLOWED.some((entry) => entry.file === finding.file && entry.comparison === finding.comparison);

/** Every `timingSafeEqual(a, b)` / `safeEqual(a, b)` call in a source text, with its two operands. */
function constantTimeCalls(source: string): Array<{ call: string; left: string; right: string }> {
  const calls: Array<{ call: string; left: string; right: string }> = [];
  for (const match of source.matchAll(/\b(?:timingSafeEqual|safeEqual)\(/g)) {
    let depth = 0;
    let comma = -1;
    const open = (match.index ?? 0) + match[0].length - 1;
    for (let i = open; i < source.length; i++) {
      const c = source[i];
      if (c === '(') depth++;
      else if (c === ',' && depth === 1) comma = i;
      else if (c === ')' && --depth === 0) {
        const left = source.slice(open + 1, comma).trim();
        const right = source.slice(comma + 1, i).trim();
        // The helper's own declaration (`safeEqual(a: string, b: string)`) is not a call.
        if (comma !== -1 && !left.includes(':')) calls.push({ call: source.slice(match.index, i + 1), left, right });
        break;
      }
    }
  }
  return calls;
}

/**
 * Constant-time calls whose operands carry no secret name, so that the rule could not see them
 * turned back into `===`; each with its reason.
 */
const UNNAMED_OPERANDS: Array<{ file: string; call: string; reason: string }> = [
  {
    file: 'crypto/keyring.ts',
    call: 'timingSafeEqual(left, right)',
    reason: 'inside safeEqual itself: its operands are whatever its callers pass, and those calls are checked',
  },
  {
    file: 'oauth2/dpop/proof.ts',
    call: 'safeEqual(payload.ath, ath)',
    reason:
      'a DPoP proof’s `ath`, the hash of the access token it is sent with (RFC 9449 §4.2): compared in constant time as a token digest, though no name says secret',
  },
];

describe('constant-time comparison of secrets', () => {
  it('flags a plain comparison of secret material, and only that', () => {
    const flagged = (code: string) => plainSecretComparisons(code, 'sample.ts').map((finding) => finding.comparison);
    for (const code of [
      'if (client.client_secret === secret) return true;',
      'return sha256Hex(presented) !== stored.registrationTokenHash;',
      'if (session.codeChallenge != computed) throw new Error();',
      'if (mac === expected) return sid;',
      'const same = cookie === body.csrf_token;',
      "return derivedKey.equals(Buffer.from(stored, 'base64'));",
      'if (row.signature === signatureOf(token)) return row;',
      'for (const hash of hashes) valid = hash == presented || valid;',
    ]) {
      expect(flagged(code), code).toHaveLength(1);
    }
    for (const code of [
      'if (secret === undefined) return;',
      "if (typeof token !== 'string') return;",
      "if (token.split('.').length !== 3) return;",
      "if (method === 'client_secret_basic') return;",
      "if (codeChallengeMethod !== 'S256') throw new Error();",
      'if (row.kind !== presented.kind) return undefined;',
      'if (part === INLINE_KEY) return;',
      'return got.length === want.length && timingSafeEqual(got, want);',
      '// a comment: if (secret === other)',
      '/* if (token === other) */',
    ]) {
      expect(flagged(code), code).toEqual([]);
    }
  });

  it('finds no plain comparison of secret material anywhere in src/', () => {
    const findings = sources.flatMap(({ file, source }) => plainSecretComparisons(source, file));
    expect(findings.filter((finding) => !allowed(finding))).toEqual([]);
    const stale = ALLOWED.filter(
      (entry) => !findings.some((finding) => finding.file === entry.file && finding.comparison === entry.comparison),
    );
    expect(stale, 'allow-list entries that match nothing').toEqual([]);
  });

  it('would catch every constant-time comparison in src/ turned back into ===', () => {
    let sites = 0;
    const unnamed: Array<{ file: string; call: string }> = [];
    for (const { file, source } of sources) {
      for (const { call, left, right } of constantTimeCalls(source)) {
        sites++;
        const reverted = source.replace(call, `${left} === ${right}`);
        const caught = plainSecretComparisons(reverted, file).some((finding) => !allowed(finding));
        if (!caught) unnamed.push({ file, call });
      }
    }
    // The secrets: client secrets (PBKDF2), HMACs (token signatures, cookies, CSRF, VC nonces),
    // registration and initial access tokens, admin API keys, PKCE, flow CSRF, identity passwords.
    expect(sites).toBeGreaterThanOrEqual(10);
    expect(unnamed).toEqual(UNNAMED_OPERANDS.map(({ file, call }) => ({ file, call })));
  });

  it('keeps the secrets of each kind on the constant-time helpers', () => {
    const all = sources.map(({ source }) => source).join('\n');
    const operands = sources.flatMap(({ source }) => constantTimeCalls(source).flatMap(({ left, right }) => [left, right])).join('\n');
    // Stored or wire names (part of the data model, not local names): each reaches a constant-time comparison.
    for (const name of ['codeChallenge', 'registrationTokenHash', 'csrf', 'signature']) expect(operands, name).toContain(name);
    // Client secrets go through the hasher's verify, HMACs through the keyring's.
    expect(all).toMatch(/hasher\.verify\(/);
    expect(all).toMatch(/keyring\.verify\(/);
  });
});
