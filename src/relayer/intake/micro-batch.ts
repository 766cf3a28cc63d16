/**
 * Group commit: callers push single items and get their own result back, while the items are
 * handed to `flush` in batches. A flush starts `maxDelayMs` after the first waiting item (0:
 * when the current event-loop turn ends), or at once when `maxSize` items wait; while
 * `concurrency` flushes run, new items accumulate, so the batch size grows with the load.
 * The delay matters when a flush blocks the event loop (an in-process database): without it,
 * each flush would carry the one request that arrived while the previous one ran.
 */
export class MicroBatcher<In, Out> {
  #queue: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  #running = 0;
  #scheduled = false;
  #idle: (() => void)[] = [];

  constructor(
    private readonly flush: (items: In[]) => Promise<Out[]>,
    private readonly options: { maxSize: number; concurrency?: number; maxDelayMs?: number },
  ) {}

  push(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Items queued or being flushed. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once every item pushed so far has been flushed. */
  drained(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#running >= (this.options.concurrency ?? 1)) return;
    if (this.#queue.length >= this.options.maxSize) {
      void this.#run();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    const go = () => {
      this.#scheduled = false;
      void this.#run();
    };
    const delay = this.options.maxDelayMs ?? 0;
    if (delay > 0) setTimeout(go, delay);
    else setImmediate(go);
  }

  async #run(): Promise<void> {
    if (this.#queue.length === 0 || this.#running >= (this.options.concurrency ?? 1)) return;
    const batch = this.#queue.splice(0, this.options.maxSize);
    this.#running++;
    try {
      const results = await this.flush(batch.map((entry) => entry.item));
      if (results.length !== batch.length) throw new Error(`flush returned ${results.length} of ${batch.length}`);
      batch.forEach((entry, i) => {
        entry.resolve(results[i]);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.#running--;
      if (this.#queue.length > 0) this.#schedule();
      else if (this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
