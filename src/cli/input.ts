/** What `import` and `--file` read: files, or stdin for "-" (as Hydra's commands read STDIN). */
import { readFile, stat } from 'node:fs/promises';
import { CliError } from './admin-api.js';

export interface Source {
  /** The file name, or STDIN. */
  source: string;
  raw: Buffer;
}

/** At most this much is read from one file or stdin: a client or key file is a few kilobytes. */
const MAX_BYTES = 16 * 1024 * 1024;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_BYTES) throw new CliError(`STDIN holds more than ${MAX_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads each named file ("-" is stdin, read once however often it is named). */
export async function readSources(names: string[]): Promise<Source[]> {
  const sources: Source[] = [];
  let stdinRead = false;
  for (const name of names) {
    if (name === '-') {
      if (!stdinRead) sources.push({ source: 'STDIN', raw: await readStdin() });
      stdinRead = true;
      continue;
    }
    try {
      if ((await stat(name)).size > MAX_BYTES) throw new CliError(`${name} holds more than ${MAX_BYTES} bytes`);
      sources.push({ source: name, raw: await readFile(name) });
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError(`could not open file ${name}: ${(error as Error).message}`);
    }
  }
  return sources;
}

/** Each source parsed as JSON; `value` is undefined for an empty one (nothing piped in). */
export async function readJsonSources(names: string[]): Promise<Array<{ source: string; value: unknown }>> {
  return (await readSources(names)).map(({ source, raw }) => {
    const text = raw.toString('utf8');
    if (text.trim() === '') return { source, value: undefined };
    try {
      return { source, value: JSON.parse(text) as unknown };
    } catch (error) {
      throw new CliError(`could not decode JSON from ${source}: ${(error as Error).message}`);
    }
  });
}
