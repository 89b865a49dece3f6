/** A thin client of the admin API for CLI commands (`--endpoint`, else ORY_SDK_URL, else localhost:4445). */
export class CliError extends Error {
  override name = 'CliError';
}

export interface EndpointFlag {
  endpoint?: string;
}

export function adminEndpoint(flags: EndpointFlag): string {
  return (flags.endpoint ?? process.env.ORY_SDK_URL ?? process.env.PORTCULLIS_ADMIN_URL ?? 'http://127.0.0.1:4445').replace(/\/+$/, '');
}

/**
 * One HTTP call of a CLI command: the response text, or a CliError naming the call and the server's
 * OAuth error (or the network failure) in one line.
 */
export async function send(url: string, init: RequestInit, label: string, where = url): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string>) } });
  } catch (error) {
    // fetch fails with a bare "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is in `cause`,
    // whose message is empty when every address of a host refused (an AggregateError).
    const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
    throw new CliError(`cannot reach ${where}: ${cause?.message || cause?.code || (error as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let detail = text;
    try {
      const parsed = JSON.parse(text) as { error?: string; error_description?: string };
      detail = [parsed.error, parsed.error_description].filter(Boolean).join(': ');
    } catch {
      // not JSON: show as is
    }
    throw new CliError(`${label} failed with ${response.status}: ${detail}`);
  }
  return text;
}

/** `Authorization: Bearer $PORTCULLIS_ADMIN_API_KEY` when set (`serve.admin.auth.api_keys` on the server). */
export function adminAuthHeaders(): Record<string, string> {
  const key = process.env.PORTCULLIS_ADMIN_API_KEY;
  return key ? { authorization: `Bearer ${key}` } : {};
}

export async function callAdmin<T>(flags: EndpointFlag, method: string, path: string, body?: unknown): Promise<T> {
  const url = `${adminEndpoint(flags)}${path}`;
  const headers = { ...adminAuthHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  const text = await send(url, init, `${method} ${path}`, `the admin API at ${url}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
