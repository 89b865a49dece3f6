import { Configuration, OAuth2Api } from '@ory/hydra-client';

/**
 * The identity UI talks to Portcullis only like this: Ory's SDK against the admin API, exactly as a
 * login app for Ory Hydra would.
 */
export function adminApi(adminUrl: string, apiKey = ''): OAuth2Api {
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  return new OAuth2Api(new Configuration({ basePath: adminUrl, baseOptions: { timeout: 10_000, maxRedirects: 0, headers } }));
}

/** How a failed admin API call should look to the person in the browser. */
export type AdminFailure =
  /** The request was already completed: Portcullis says where the browser should go instead (Hydra answers 410). */
  { kind: 'handled'; redirectTo: string } | { kind: 'expired' } | { kind: 'invalid' } | { kind: 'unavailable'; status?: number };

interface SdkError {
  isAxiosError?: boolean;
  response?: { status: number; data?: unknown };
}

/** The HTTP status the admin API answered an SDK call with; undefined when the error did not come from one. */
export function adminStatus(error: unknown): number | undefined {
  const failure = error as SdkError | undefined;
  return failure?.isAxiosError === true ? failure.response?.status : undefined;
}

/** Classifies an error thrown by an SDK call; undefined when it did not come from one. */
export function adminFailure(error: unknown): AdminFailure | undefined {
  const failure = error as SdkError | undefined;
  if (failure?.isAxiosError !== true) return undefined;
  const response = failure.response;
  if (!response) return { kind: 'unavailable' };
  const redirectTo = (response.data as { redirect_to?: unknown } | undefined)?.redirect_to;
  if (response.status === 410 && typeof redirectTo === 'string' && /^https?:\/\//.test(redirectTo)) {
    return { kind: 'handled', redirectTo };
  }
  if (response.status === 401) return { kind: 'expired' };
  if (response.status === 400 || response.status === 404 || response.status === 410) return { kind: 'invalid' };
  return { kind: 'unavailable', status: response.status };
}
