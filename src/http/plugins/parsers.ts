import type { FastifyRequest } from 'fastify';
import { BadRequestError, type HttpError } from '../errors.js';
import { FORM_TYPE, isFormRequest } from '../form-request.js';
import { jsonTextExceedsDepth } from '../json-depth.js';
import { malformed } from './errors.js';
import { listenerWide } from './shared.js';

/**
 * The bodies a listener reads: forms (linear parsing, at most `serve.max_form_fields` fields, on the
 * routes that take them only) and JSON (no proto-poisoning, no NUL characters, at most
 * `serve.max_json_depth` levels).
 */
export const bodyParsers = listenerWide('parsers', (app, { registry }, done) => {
  const { serve } = registry.config;
  // Before the body is even read: a form is what a cross-site page can post without a CORS preflight.
  app.addHook('preParsing', (request, _reply, payload, next) => next(unwantedForm(request), payload));
  const maxFields = serve.max_form_fields;
  app.addContentTypeParser(FORM_TYPE, { parseAs: 'string' }, (request, body, next) => {
    const fields = parseForm(body as string, maxFields);
    if (fields) return next(null, fields);
    return next(malformed(request, `The form has more than ${maxFields} fields (serve.max_form_fields).`), undefined);
  });
  // JSON bodies: proto-poisoning refused, NUL characters refused (no store keeps them the same way),
  // and nesting deeper than serve.max_json_depth refused before it is parsed.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const maxDepth = serve.max_json_depth;
  const strictJson: typeof parseJson = (request, body, next) => {
    if ((body as string).includes('\\u0000'))
      return next(new BadRequestError('NUL characters are not allowed in request bodies.'), undefined);
    if (jsonTextExceedsDepth(body as string, maxDepth))
      return next(malformed(request, `The JSON body nests deeper than ${maxDepth} levels (serve.max_json_depth).`), undefined);
    return parseJson(request, body, next);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, strictJson);
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/, { parseAs: 'string' }, strictJson);
  done();
});

/**
 * A non-empty form sent to a route that takes none, refused from its headers alone. An empty one
 * (what SDKs send with a bodyless PUT) carries nothing and passes; 400 as Hydra answers.
 */
function unwantedForm(request: FastifyRequest): HttpError | undefined {
  if (!isFormRequest(request) || request.routeOptions.config?.forms === true) return undefined;
  const length = request.headers['content-length'];
  const empty = length === '0' || (length === undefined && request.headers['transfer-encoding'] === undefined);
  return empty ? undefined : new BadRequestError('This route takes JSON bodies; forms are accepted by the OAuth 2.0 endpoints only.');
}

/**
 * A form body as a record, a repeated field as an array of its values in order; undefined when it
 * has more than `maxFields` fields (each repetition counting), found by counting separators before
 * anything is decoded. Linear: a repetition is appended in place (copying the array of earlier
 * values each time made one `a=&a=&…` body of 120 KB hold a listener for many seconds).
 */
export function parseForm(body: string, maxFields: number): Record<string, string | string[]> | undefined {
  if (countFields(body, maxFields) > maxFields) return undefined;
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    // Own properties only: `constructor` or `toString` are fields like any other.
    if (!Object.hasOwn(out, key)) {
      // `__proto__` as a plain assignment would set the prototype instead of a field.
      if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      else out[key] = value;
      continue;
    }
    const seen = out[key] as string | string[];
    if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return out;
}

/** The non-empty `&`-separated fields of a form, counted up to `max + 1`. */
function countFields(body: string, max: number): number {
  let count = 0;
  let start = 0;
  while (start <= body.length && count <= max) {
    const end = body.indexOf('&', start);
    const stop = end === -1 ? body.length : end;
    if (stop > start) count++;
    if (end === -1) break;
    start = end + 1;
  }
  return count;
}
