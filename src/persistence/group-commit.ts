/**
 * Group commit: writes asked for in the same turn of the event loop go to the database together, as
 * one statement and one commit, instead of one commit (and one WAL write of every page touched)
 * each. Every caller still waits until its own write is committed and gets its own answer; when a
 * group's statement fails, each of its writes is retried alone, so that one bad write fails only its
 * own caller. Used outside transactions only: inside one, a store writes directly.
 */

export interface GroupWriter<Item, Answer> {
  /** Writes a group of at least two items in one statement; one answer per item, in order. */
  writeGroup(items: Item[]): Promise<Answer[]>;
  /** Writes one item alone: a group of one, and each item of a failed group. */
  writeOne(item: Item): Promise<Answer>;
  /** How many rows (statement parameters, roughly) an item adds to a group; 1 when not given. */
  sizeOf?(item: Item): number;
}

/** At most this many rows go into one group (well within every store's parameter limit). */
const MAX_ROWS_PER_GROUP = 256;
/** At most this many groups are written at once; writes arriving meanwhile wait for the next one. */
const MAX_CONCURRENT_GROUPS = 2;

interface Pending<Item, Answer> {
  item: Item;
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

export class GroupCommit<Item, Answer> {
  /** Writes waiting for the next group; undefined when none is scheduled. */
  private pending: Pending<Item, Answer>[] | undefined;
  private committing = 0;

  constructor(private readonly writer: GroupWriter<Item, Answer>) {}

  /** Queues `item` for the next group; resolves with its answer once the group is committed. */
  write(item: Item): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (!this.pending) {
        this.pending = [];
        if (this.committing < MAX_CONCURRENT_GROUPS) setImmediate(() => this.commitPending());
      }
      this.pending.push({ item, resolve, reject });
    });
  }

  private async commitPending(): Promise<void> {
    const group: Pending<Item, Answer>[] = [];
    let rows = 0;
    while (this.pending && this.pending.length > 0 && rows < MAX_ROWS_PER_GROUP) {
      const next = this.pending.shift() as Pending<Item, Answer>;
      group.push(next);
      rows += this.writer.sizeOf?.(next.item) ?? 1;
    }
    if (this.pending?.length === 0) this.pending = undefined;
    if (group.length === 0) return;
    this.committing++;
    try {
      if (group.length === 1) {
        const [only] = group as [Pending<Item, Answer>];
        await this.writer.writeOne(only.item).then(only.resolve, only.reject);
      } else {
        await this.writer.writeGroup(group.map((pending) => pending.item)).then(
          (answers) => {
            for (const [index, pending] of group.entries()) pending.resolve(answers[index] as Answer);
          },
          () => Promise.all(group.map((pending) => this.writer.writeOne(pending.item).then(pending.resolve, pending.reject))),
        );
      }
    } finally {
      this.committing--;
      // Writes that arrived while this group was written go next.
      if (this.pending && this.committing < MAX_CONCURRENT_GROUPS) setImmediate(() => this.commitPending());
    }
  }
}
