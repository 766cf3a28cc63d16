import { isLogRangeTooLarge } from "../../client/node-errors.js";

/**
 * A span of `eth_getLogs` requests, once halved, doubles again (up to its maximum) after this many
 * consecutive requests of that span passed. Against a node with a fixed block-span limit below
 * the maximum, at most one request in `GROW_AFTER + 1` is then refused and made again halved.
 */
const GROW_AFTER = 10;

/**
 * How many blocks one `eth_getLogs` request asks for: at most `max`, halved (down to one block)
 * when the node refuses a request as too large (`isLogRangeTooLarge`: "query returned more than
 * 10000 results", "block range is too wide", HTTP 413, …), and doubled again, never above `max`,
 * by `passed` after `GROW_AFTER` consecutive requests of the reduced span. In memory only: a
 * restart starts again from `max`.
 */
export class LogSpan {
  #blocks: bigint;
  /** Consecutive requests of `#blocks` blocks that passed since it last changed. */
  #passed = 0;

  constructor(private readonly max: bigint) {
    this.#blocks = max;
  }

  /** Blocks the next request may cover. */
  get blocks(): bigint {
    return this.#blocks;
  }

  /**
   * A request of `blocks` blocks failed with `error`. True: the node refused it as too large and
   * the span is now half of it, to ask again. False: the error stands (another error, or a
   * single block refused).
   */
  refused(blocks: bigint, error: unknown): boolean {
    if (blocks <= 1n || !isLogRangeTooLarge(error)) return false;
    this.#blocks = (blocks + 1n) / 2n;
    this.#passed = 0;
    return true;
  }

  /** A request of `blocks` blocks passed. Returns whether the span grew. */
  passed(blocks: bigint): boolean {
    if (blocks !== this.#blocks || this.#blocks >= this.max || ++this.#passed < GROW_AFTER) return false;
    this.#blocks = this.#blocks * 2n < this.max ? this.#blocks * 2n : this.max;
    this.#passed = 0;
    return true;
  }
}
