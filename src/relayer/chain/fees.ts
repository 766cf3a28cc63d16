import type { FeeEstimate } from "./ports.js";

export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/** Nodes refuse a replacement that does not raise both fee fields by at least 10%. */
export const MIN_REPLACEMENT_BUMP_PERCENT = 10n;

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const raise = (value: bigint, percent: bigint) => value + (value * percent + 99n) / 100n;

/**
 * EIP-1559 fees for a new transaction: the node's tip, and a fee cap of twice the base fee plus
 * the tip (room for six full blocks of base-fee growth), both clamped to the configured cap.
 */
export function initialFees(estimate: FeeEstimate, cap: bigint): Fees {
  const maxFeePerGas = min(estimate.baseFeePerGas * 2n + estimate.maxPriorityFeePerGas, cap);
  return { maxFeePerGas, maxPriorityFeePerGas: min(estimate.maxPriorityFeePerGas, maxFeePerGas) };
}

/**
 * Fees for replacing a stuck transaction: each field raised by `bumpPercent` (and at least to
 * what a new transaction would pay now), clamped to the cap. Null when the cap leaves no room
 * for the 10% raise nodes require: the transaction then waits for the base fee to come down.
 */
export function bumpedFees(previous: Fees, estimate: FeeEstimate, cap: bigint, bumpPercent: number): Fees | null {
  const percent = BigInt(bumpPercent);
  const fresh = initialFees(estimate, cap);
  const maxFeePerGas = min(max(raise(previous.maxFeePerGas, percent), fresh.maxFeePerGas), cap);
  const maxPriorityFeePerGas = min(
    max(raise(previous.maxPriorityFeePerGas, percent), fresh.maxPriorityFeePerGas),
    maxFeePerGas,
  );
  const enough =
    maxFeePerGas >= raise(previous.maxFeePerGas, MIN_REPLACEMENT_BUMP_PERCENT) &&
    maxPriorityFeePerGas >= raise(previous.maxPriorityFeePerGas, MIN_REPLACEMENT_BUMP_PERCENT);
  return enough ? { maxFeePerGas, maxPriorityFeePerGas } : null;
}
