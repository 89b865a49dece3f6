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

export async function callAdmin<T>(flags: EndpointFlag, method: string, path: string, body?: unknown): Promise<T> {
  const url = `${adminEndpoint(flags)}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    // fetch fails with a bare "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is in `cause`,
    // whose message is empty when every address of a host refused (an AggregateError).
    const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
    throw new CliError(`cannot reach the admin API at ${url}: ${cause?.message || cause?.code || (error as Error).message}`);
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
    throw new CliError(`${method} ${path} failed with ${response.status}: ${detail}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}
