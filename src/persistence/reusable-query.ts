import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Executor = Kysely<Tables> | Transaction<Tables>;

/**
 * A query built and compiled once, then run with fresh parameters: building a Kysely query costs
 * more than the lookup it runs, and the hot lookups (a token by signature, a flow's consent by id)
 * run on nearly every request. `build` is called with the executor once; every call after passes
 * all of the query's parameters, in the order the compiled SQL has them.
 */
export function reusableQuery<Row>(db: Executor, build: (db: Executor) => { compile(): CompiledQuery<Row> }) {
  let compiled: CompiledQuery<Row> | undefined;
  return async (...parameters: readonly unknown[]): Promise<Row[]> => {
    compiled ??= build(db).compile();
    if (compiled.parameters.length !== parameters.length) throw new Error('reusableQuery: wrong number of parameters');
    const { rows } = await db.executeQuery<Row>({ ...compiled, parameters });
    return rows;
  };
}
