import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/schema.js';

export type { Logger };

/** Header and body fields never written to logs, whatever the level. */
const REDACTED = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.client_secret',
  '*.password',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.registration_access_token',
];

export function createLogger(settings: Config['log'], destination: NodeJS.WritableStream = process.stderr): Logger {
  const options = {
    level: settings.level,
    base: { service: 'portcullis' },
    redact: { paths: REDACTED, censor: settings.redaction_text },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  switch (settings.format) {
    case 'text':
      return pino(options, textStream(destination));
    case 'json_pretty':
      return pino(options, prettyJsonStream(destination));
    case 'json':
      return pino(options, destination);
  }
}

/** Each record as indented JSON (Hydra's `json_pretty`), for reading by eye. */
function prettyJsonStream(destination: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      destination.write(`${JSON.stringify(JSON.parse(String(chunk)), null, 2)}\n`);
      done();
    },
  });
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One readable line per record: `time LEVEL message key=value …`. */
function textStream(destination: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      const { time, level, msg, service, ...rest } = JSON.parse(String(chunk)) as Record<string, unknown>;
      void service;
      const fields = Object.entries(rest)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      destination.write(`${time} ${LEVELS[level as number] ?? level} ${msg ?? ''}${fields ? ` ${fields}` : ''}\n`);
      done();
    },
  });
}
