/**
 * Durations in Go's `time.Duration` notation, as Hydra's configuration and API use them:
 * `1h30m`, `10m`, `1.5s`, `300ms`. Parsed to milliseconds; formatted back the way Go prints them
 * (`1h0m0s`), because Hydra's API echoes lifespans in that form.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's longest `time.Duration` (2^63-1 ns, about 2562047h): longer text is not a duration there either. */
const MAX_MS = 9_223_372_036_854.775;

export const DURATION_PATTERN = '^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$';
const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** Returns milliseconds, or undefined when the text is not a duration. A leading `-` negates. */
export function parseDuration(text: string): number | undefined {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  if (body === '0') return 0;
  if (!WHOLE.test(body)) return undefined;
  let total = 0;
  for (const match of body.matchAll(PART)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  // Beyond it, expiry times would overflow JavaScript dates (RangeError when a token is minted).
  if (!(total <= MAX_MS)) return undefined;
  return negative ? -total : total;
}

/** Formats milliseconds as Go does: `1h0m0s`, `30m0s`, `1.5s`, `500ms`, `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${trimNumber(rest)}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = `${trimNumber(rest / 1000)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimNumber(value: number): string {
  return String(Number(value.toFixed(6)));
}
