/** HTTP Basic client credentials as RFC 6749 §2.3.1 encodes them (form-urlencoded, then base64). */
export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export interface FormAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a urlencoded form and reads the JSON answer (empty object when there is none). */
export async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<FormAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
