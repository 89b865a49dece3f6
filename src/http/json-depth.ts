/**
 * Bounds on how deeply JSON nests (`serve.max_json_depth`). Parsing deep JSON is cheap, but every
 * recursive walk of it afterwards (validation, cloning, JSON.stringify, response serialization)
 * runs out of stack a few thousand levels down: a stored client nested that deep made every list
 * of clients answer 500. Depth counts containers: `1` is 0 deep, `{}` and `[]` are 1, `{"a":[]}` 2.
 * Both checks are iterative, so they never overflow themselves.
 */

/** True when JSON text nests objects and arrays more than `max` deep; brackets inside strings do not count. */
export function jsonTextExceedsDepth(text: string, max: number): boolean {
  // Each level needs its own opening bracket.
  if (text.length <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === BACKSLASH) i++;
      else if (char === QUOTE) inString = false;
    } else if (char === QUOTE) {
      inString = true;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * True when a parsed value nests objects and arrays more than `max` deep. For values that did not
 * come through a JSON body (rows stored by an older version, documents fetched from elsewhere);
 * a cycle counts as too deep.
 */
export function exceedsJsonDepth(value: unknown, max: number): boolean {
  const pending: unknown[] = [value];
  const depths: number[] = [0];
  while (pending.length > 0) {
    const current = pending.pop();
    const depth = depths.pop() as number;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
