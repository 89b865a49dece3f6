/** How commands print: a table for people by default, JSON for scripts. */
export interface FormatFlag {
  format?: string;
}

export function write(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** Prints one record or a list as JSON, or as a table of the chosen fields. */
export function printRecords<T extends object>(
  value: T | T[],
  format: string | undefined,
  columns: Array<[string, (record: T) => unknown]>,
): void {
  if (format === 'json') {
    write(value);
    return;
  }
  const records = Array.isArray(value) ? value : [value];
  printTable(
    columns.map(([header]) => header),
    records.map((record) => columns.map(([, pick]) => show(pick(record)))),
  );
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
