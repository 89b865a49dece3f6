import { type Command, InvalidArgumentError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';

/**
 * How commands print, as Hydra's CLI (ory/x cmdx): `--format table` (the default, for people),
 * `json` (one line), `json-pretty`, `yaml`, `jsonpath=<path>` and `jsonpointer=<pointer>` (a part
 * of the JSON, pretty-printed), and `-q/--quiet` (the first column only: the ids).
 */
export interface OutputFlags {
  format?: string;
  quiet?: boolean;
}

export const FORMAT_HELP = 'output format: table, json, json-pretty, yaml, jsonpath=<path> or jsonpointer=<pointer>';

type Format =
  | { kind: 'table' | 'json' | 'json-pretty' | 'yaml' }
  | { kind: 'jsonpath'; path: string }
  | { kind: 'jsonpointer'; pointer: string[] };

/** Parses `--format`; anything else is an error before any request is sent (Hydra would print a table). */
export function parseFormat(text: string): Format {
  if (text === 'table' || text === 'json' || text === 'json-pretty' || text === 'yaml') return { kind: text };
  const [name, argument] = splitOnce(text, '=');
  if (name === 'jsonpath') {
    if (!argument) throw new InvalidArgumentError('jsonpath needs a path, e.g. --format jsonpath=client_id');
    return { kind: 'jsonpath', path: argument };
  }
  if (name === 'jsonpointer') {
    if (argument === undefined) throw new InvalidArgumentError('jsonpointer needs a pointer, e.g. --format jsonpointer=/client_id');
    return { kind: 'jsonpointer', pointer: parsePointer(argument) };
  }
  throw new InvalidArgumentError(`unknown format; use ${FORMAT_HELP.replace('output format: ', '')}`);
}

/** `--format` (validated when parsed) and `-q/--quiet`, on every command that prints. */
export function withOutputFlags(command: Command): Command {
  return command
    .addOption(
      new Option('--format <format>', FORMAT_HELP).default('table').argParser((value) => {
        parseFormat(value);
        return value;
      }),
    )
    .option('-q, --quiet', 'print only the ids (the first column)');
}

/**
 * What the table formats show: an optional header line and rows of cells (an empty row separates
 * blocks aligned on their own); `ids` is what `-q` prints when it is not the first column.
 */
export interface TableView {
  headers?: string[];
  rows: string[][];
  ids?: string[];
}

/** Prints `value` in the chosen format; `table` is how the table and quiet formats show it. */
export function output(value: unknown, flags: OutputFlags, table: TableView): void {
  if (flags.quiet) {
    writeLines(table.ids ?? table.rows.map((row) => row[0] ?? ''));
    return;
  }
  const format = parseFormat(flags.format ?? 'table');
  switch (format.kind) {
    case 'table':
      printTable(table);
      return;
    case 'json':
      writeLines([JSON.stringify(value ?? null)]);
      return;
    case 'json-pretty':
      writeLines([pretty(value)]);
      return;
    case 'yaml':
      process.stdout.write(toYaml(jsonValue(value)));
      return;
    case 'jsonpath':
      writeLines([pretty(selectPath(jsonValue(value), format.path))]);
      return;
    case 'jsonpointer':
      writeLines([pretty(selectPointer(jsonValue(value), format.pointer))]);
      return;
  }
}

export type Columns<T> = Array<[string, (record: T) => unknown]>;

/** Prints one record or a list in the chosen format; the table shows the chosen fields, one row per record. */
export function printRecords<T extends object>(value: T | T[], flags: OutputFlags, columns: Columns<T>): void {
  output(value, flags, tableOf(Array.isArray(value) ? value : [value], columns));
}

/** Prints one record as Hydra's: the table is one `NAME  value` line per field, `-q` the first field. */
export function printRecord<T>(record: T, flags: OutputFlags, columns: Columns<T>): void {
  const cells = tableOf([record], columns).rows[0] ?? [];
  output(record, flags, { rows: columns.map(([header], i) => [header, cells[i] ?? '']), ids: [cells[0] ?? ''] });
}

/**
 * Prints one page of a list as Hydra's paginated list: `{"items", "next_page_token", "is_last_page"}`
 * in the JSON formats (the token is empty on the last page), the items' table followed by the two
 * page lines, and only the items' ids with `-q`.
 */
export function printPage<T>(items: T[], nextPageToken: string, flags: OutputFlags, columns: Columns<T>): void {
  const isLastPage = nextPageToken === '';
  const table = tableOf(items, columns);
  output({ items, next_page_token: nextPageToken, is_last_page: isLastPage }, flags, {
    ...table,
    rows: [...table.rows, [], ['NEXT PAGE TOKEN', nextPageToken], ['IS LAST PAGE', String(isLastPage)]],
    ids: table.rows.map((row) => row[0] ?? ''),
  });
}

/** The table of records: the chosen fields, one row per record. */
export function tableOf<T>(records: T[], columns: Columns<T>): TableView {
  return {
    headers: columns.map(([header]) => header),
    rows: records.map((record) => columns.map(([, pick]) => show(pick(record)))),
  };
}

/** Prints ids (of what was deleted): one a line, or a JSON array. */
export function printIds(ids: string[], flags: OutputFlags): void {
  output(ids, flags, { rows: ids.map((id) => [id]) });
}

function printTable({ headers, rows }: TableView): void {
  const all = headers ? [headers, ...rows] : rows;
  const lines: string[] = [];
  // Each block between empty rows is aligned on its own, so a page's footer does not widen the items' columns.
  for (let start = 0; start <= all.length; ) {
    const end = all.findIndex((row, i) => i >= start && row.length === 0);
    const block = all.slice(start, end < 0 ? all.length : end);
    const widths = (block[0] ?? []).map((_, i) => Math.max(...block.map((row) => (row[i] ?? '').length)));
    for (const cells of block) {
      lines.push(
        cells
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      );
    }
    if (end < 0) break;
    lines.push('');
    start = end + 1;
  }
  writeLines(lines);
}

function writeLines(lines: string[]): void {
  process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
}

function pretty(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2);
}

/** The value as JSON sees it (no undefined members, dates as strings), for YAML and the selectors. */
function jsonValue(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** RFC 6901: `/a/0/b~1c`; the empty pointer is the whole document. */
function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new InvalidArgumentError('a JSON pointer starts with "/", e.g. jsonpointer=/client_id');
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function selectPointer(document: unknown, pointer: string[]): unknown {
  let current = document;
  for (const token of pointer) {
    const next = member(current, token);
    if (next === undefined) throw new InvalidArgumentError(`the JSON pointer /${pointer.join('/')} matches nothing in the output`);
    current = next;
  }
  return current;
}

/**
 * The subset of gjson's path syntax Hydra's users write: `a.b`, array indexes (`keys.0.kid`), `#` (an
 * array's length) and `#.field` (that field of every element); `\.` escapes a dot. No match prints null.
 */
function selectPath(document: unknown, path: string): unknown {
  const parts = path.split(/(?<!\\)\./).map((part) => part.replace(/\\\./g, '.'));
  const walk = (current: unknown, rest: string[]): unknown => {
    const [head, ...tail] = rest;
    if (head === undefined || current === undefined) return current;
    if (head === '#' && Array.isArray(current)) {
      return tail.length === 0 ? current.length : current.map((element) => walk(element, tail)).filter((v) => v !== undefined);
    }
    return walk(member(current, head), tail);
  };
  return walk(document, parts);
}

function member(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return /^(0|[1-9][0-9]*)$/.test(key) ? value[Number(key)] : undefined;
  if (value !== null && typeof value === 'object' && Object.hasOwn(value, key)) return (value as Record<string, unknown>)[key];
  return undefined;
}
