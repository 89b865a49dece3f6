import type { Config } from './schema.js';

/**
 * `path` (starting with `/`, or empty) under `base`, whatever trailing slashes `base` is configured
 * with: `https://a.example/` and `https://a.example` give the same endpoint.
 */
export function urlUnder(base: string, path: string): string {
  return `${withoutTrailingSlashes(base)}${path}`;
}

export function withoutTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** An endpoint under `urls.self.public`. */
export function publicUrl(config: Config, path: string): string {
  return urlUnder(config.urls.self.public, path);
}

/** An endpoint under `urls.self.issuer`. */
export function issuerUrl(config: Config, path: string): string {
  return urlUnder(config.urls.self.issuer, path);
}
