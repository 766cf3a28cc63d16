/**
 * The relayer's notion of "now". Validity windows are checked against the chain's time, which
 * can run ahead of the wall clock (test chains that warp time): `seconds()` is the later of the
 * wall clock and the newest block timestamp seen, extrapolated by the time since it was seen.
 */
export class TimeSource {
  #blockSeconds = 0n;
  #seenAtMs = 0;

  constructor(readonly nowMs: () => number = Date.now) {}

  /** Unix seconds. */
  seconds(): bigint {
    const wall = BigInt(Math.floor(this.nowMs() / 1000));
    if (this.#blockSeconds === 0n) return wall;
    const chain = this.#blockSeconds + BigInt(Math.floor((this.nowMs() - this.#seenAtMs) / 1000));
    return chain > wall ? chain : wall;
  }

  /** Records the timestamp of the newest block. */
  observeBlock(timestamp: bigint): void {
    if (timestamp >= this.#blockSeconds) {
      this.#blockSeconds = timestamp;
      this.#seenAtMs = this.nowMs();
    }
  }
}
