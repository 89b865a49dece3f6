import type { FastifyRequest } from 'fastify';

// Apart from app.ts so that route helpers can ask without importing the app factory (no import cycle).

export const FORM_TYPE = 'application/x-www-form-urlencoded';

/** True when the request says its body is `application/x-www-form-urlencoded` (any case, any parameters). */
export function isFormRequest(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return type !== undefined && type.length >= FORM_TYPE.length && type.slice(0, FORM_TYPE.length).toLowerCase() === FORM_TYPE;
}
