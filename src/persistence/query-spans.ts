import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { AliasNode, type LogEvent, type OperationNode, type RootOperationNode, TableNode } from 'kysely';
import type { Tracing } from '../observability/tracing.js';

const STATEMENT_KINDS: Partial<Record<RootOperationNode['kind'], string>> = {
  SelectQueryNode: 'SELECT',
  InsertQueryNode: 'INSERT',
  UpdateQueryNode: 'UPDATE',
  DeleteQueryNode: 'DELETE',
  MergeQueryNode: 'MERGE',
};

/**
 * Kysely's query log turned into one client span per statement (`SELECT hydra_client`), a child of
 * the span active when the statement ran (the request's). Kysely reports each statement once it
 * finished, with its duration, so the span is recorded then, starting that long before. A span names
 * the statement's kind and table only: never its text or parameters, which hold tokens and secrets,
 * and for a failed one the error's code or name, not its message (which may quote the values).
 * `system` is the store's `db.system.name`.
 */
export function querySpans(tracing: Tracing, system: string): (event: LogEvent) => void {
  return (event) => {
    const end = performance.timeOrigin + performance.now();
    const { kind, table } = describeStatement(event.query.query, event.query.sql);
    const span = tracing.startSpan(table ? `${kind} ${table}` : kind, {
      kind: SpanKind.CLIENT,
      startTime: end - event.queryDurationMillis,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: system,
        [ATTR_DB_OPERATION_NAME]: kind,
        ...(table ? { [ATTR_DB_COLLECTION_NAME]: table } : {}),
      },
    });
    if (event.level === 'error') {
      const type = event.error instanceof Error ? ((event.error as { code?: unknown }).code ?? event.error.name) : 'unknown';
      span.setAttribute(ATTR_ERROR_TYPE, String(type));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(end);
  };
}

/** The statement's kind (`SELECT`, or a raw statement's first keyword) and the table it is about, if any. */
export function describeStatement(node: RootOperationNode, text: string): { kind: string; table: string | undefined } {
  const kind = STATEMENT_KINDS[node.kind] ?? (/^\s*([A-Za-z]+)/.exec(text)?.[1] ?? 'SQL').toUpperCase();
  return { kind, table: tableOf(node) };
}

function tableOf(node: RootOperationNode): string | undefined {
  switch (node.kind) {
    case 'SelectQueryNode':
    case 'DeleteQueryNode':
      return tableName(node.from?.froms[0]);
    case 'InsertQueryNode':
      return tableName(node.into);
    case 'UpdateQueryNode':
      return tableName(node.table);
    case 'MergeQueryNode':
      return tableName(node.into);
    default:
      return undefined;
  }
}

/** The name of a table node, also behind an alias (`from hydra_client as c`). */
function tableName(node: OperationNode | undefined): string | undefined {
  if (node && AliasNode.is(node)) return tableName(node.node);
  return node && TableNode.is(node) ? node.table.identifier.name : undefined;
}
