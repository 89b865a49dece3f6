import type { CompiledQuery, Kysely, QueryResult, Transaction } from 'kysely';
import type { Tables } from './tables.js';

export type Executor = Kysely<Tables> | Transaction<Tables>;

/** A query as Kysely builds it, before it is compiled. */
interface Compilable<Row> {
  compile(): CompiledQuery<Row>;
}

/**
 * Statements built and compiled once per database, then run with fresh parameters on the database
 * or on any transaction begun on it (a transaction compiles to the same SQL): building a Kysely
 * query costs more than the statement it runs on the hot paths (a token by signature, the rotation
 * of a refresh token, a flow's consent by id). The root persister makes one; the persisters of its
 * transactions share it.
 *
 * A statement is named by `key`, and `build` must leave exactly `parameters.length` parameters in
 * it, in the order `parameters` gives them: constants it needs go in as literals (`sql.lit`), not
 * as values. A mismatch throws rather than run a statement with shifted parameters.
 */
export class CompiledStatements {
  private readonly compiled = new Map<string, CompiledQuery<unknown>>();

  async run<Row>(
    executor: Executor,
    key: string,
    build: (db: Executor) => Compilable<Row>,
    parameters: readonly unknown[],
  ): Promise<QueryResult<Row>> {
    let query = this.compiled.get(key) as CompiledQuery<Row> | undefined;
    if (!query) {
      query = build(executor).compile();
      this.compiled.set(key, query as CompiledQuery<unknown>);
    }
    if (query.parameters.length !== parameters.length) {
      throw new Error(`compiled statement ${key}: ${query.parameters.length} parameters, ${parameters.length} given`);
    }
    return executor.executeQuery<Row>({ ...query, parameters });
  }

  /** The rows of a compiled SELECT. */
  async rows<Row>(
    executor: Executor,
    key: string,
    build: (db: Executor) => Compilable<Row>,
    parameters: readonly unknown[],
  ): Promise<Row[]> {
    return (await this.run(executor, key, build, parameters)).rows;
  }
}
