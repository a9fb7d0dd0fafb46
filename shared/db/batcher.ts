/**
 * Gathers the calls that concurrent jobs make into one statement. Calls made
 * while the allowed statements are in flight wait and go together in the
 * next one, so batches grow with load and a lone call waits for nothing but
 * the next turn of the event loop. `run` gets the items in call order and
 * returns one result per item, in the same order.
 *
 * A batch that fails is retried item by item, so one bad item (a constraint,
 * a deadlock with another batch) fails only its own caller.
 *
 * A call may also say it is in no hurry (`lingerMs`): it then goes with the
 * next statement another call starts, and alone only once it has waited
 * that long. Work off the latency path (a record that a push was accepted)
 * rides along with the statements on it instead of taking a commit of its own.
 * A batcher may give every call a wait of that kind (`lingerMs` in its
 * options: the pool's gather window, STATEMENT_GATHER_MS); a statement that is
 * already full goes at once.
 */
export interface BatcherOptions<I, O> {
  run(items: I[]): Promise<O[]>;
  /** Most items in one statement. */
  maxBatch?: number;
  /** Most statements in flight at once. */
  maxInFlight?: number;
  /**
   * Whether a failed batch is tried again item by item (default true). Off
   * where a failure is the other side's, not an item's (a bridge that does
   * not answer would only time out once per item).
   */
  retryAlone?: boolean;
  /** How long a call that says nothing of its own may wait for company (default 0; BatchCall.lingerMs overrides). */
  lingerMs?: number;
}

export interface BatchCall {
  /** How long the item may wait for another call's statement before it goes alone (default 0: the next turn). */
  lingerMs?: number;
}

export function createBatcher<I, O>(options: BatcherOptions<I, O>): (item: I, call?: BatchCall) => Promise<O> {
  const maxBatch = options.maxBatch ?? 100;
  const maxInFlight = options.maxInFlight ?? 2;
  const defaultLinger = options.lingerMs ?? 0;
  const waiting: { item: I; dueAt: number; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;
  let timer: NodeJS.Timeout | null = null;

  async function runBatch(batch: typeof waiting): Promise<void> {
    try {
      const results = await options.run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index]));
    } catch (error) {
      if (batch.length === 1 || options.retryAlone === false) {
        batch.forEach((entry) => entry.reject(error));
        return;
      }
      await Promise.all(
        batch.map(async (entry) => {
          try {
            entry.resolve((await options.run([entry.item]))[0]);
          } catch (alone) {
            entry.reject(alone);
          }
        }),
      );
    }
  }

  /** The earliest time any waiting item must go (an eager item: already). */
  function firstDue(): number {
    let due = Infinity;
    for (const entry of waiting) if (entry.dueAt < due) due = entry.dueAt;
    return due;
  }

  function pump(): void {
    scheduled = false;
    while (inFlight < maxInFlight && waiting.length > 0) {
      const due = firstDue();
      if (due > Date.now() && waiting.length < maxBatch) {
        // Only lingering items, not yet a full statement: they wait for company, or until the first of them is due.
        if (!timer) {
          timer = setTimeout(() => {
            timer = null;
            schedule();
          }, due - Date.now());
        }
        return;
      }
      const batch = waiting.splice(0, maxBatch);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        schedule();
      });
    }
  }

  function schedule(): void {
    if (scheduled || waiting.length === 0) return;
    scheduled = true;
    setImmediate(pump);
  }

  return (item: I, call?: BatchCall) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, dueAt: Date.now() + (call?.lingerMs ?? defaultLinger), resolve, reject });
      schedule();
    });
}

/**
 * A batch function's rows by the position of the item they answer (`item`),
 * one per item: null where the function returned nothing for it (not this
 * tenant's, or missing).
 */
export function rowsByItem<R extends { item: number }>(rows: R[], count: number): (R | null)[] {
  const found = new Map(rows.map((row) => [row.item, row]));
  return Array.from({ length: count }, (_, index) => found.get(index) ?? null);
}
