import {
  type Address,
  encodeFunctionData,
  type Hex,
  maxUint256,
  toFunctionSelector,
  zeroAddress,
  zeroHash,
} from "viem";
import type { World } from "./world.js";

/** Revert selectors the re-entry scenarios expect. */
export const REENTRANT_CALL = toFunctionSelector("ReentrancyGuardReentrantCall()");
export const UNAUTHORIZED = toFunctionSelector("OwnableUnauthorizedAccount(address)");

/** One re-entrant call: which function, its call data, and the revert it must meet. */
export interface ReentryTarget {
  fn: string;
  data: Hex;
  expected: Hex;
}

/** What a re-entrant call may aim at: the position under attack and its token. */
export interface ReentryContext {
  escrowId: bigint;
  channelId: Hex;
  token: Address;
  attacker: Address;
}

/**
 * Every external state-changing function of Escrow, with the most damaging arguments the attacker
 * has at hand (its own escrow, its own token). All are `nonReentrant`, so each must revert with
 * `ReentrancyGuardReentrantCall`; the Ownable2Step functions are owner-only (not guarded) and must
 * revert with `OwnableUnauthorizedAccount`.
 */
export function escrowTargets(w: World, c: ReentryContext): ReentryTarget[] {
  const abi = w.escrow.abi;
  const terms = {
    payee: w.address("bob"),
    arbiter: zeroAddress,
    token: c.token,
    amount: 1n,
    deadline: 2n ** 40n,
    onExpiry: 0,
    ref: zeroHash,
  };
  const guarded = (fn: string, data: Hex) => ({ fn, data, expected: REENTRANT_CALL });
  const ownerOnly = (fn: string, data: Hex) => ({ fn, data, expected: UNAUTHORIZED });
  return [
    guarded("create", encodeFunctionData({ abi, functionName: "create", args: [terms] })),
    guarded(
      "createWithPermit",
      encodeFunctionData({ abi, functionName: "createWithPermit", args: [terms, 0n, 27, zeroHash, zeroHash] }),
    ),
    guarded("release", encodeFunctionData({ abi, functionName: "release", args: [c.escrowId, 1n] })),
    guarded("refund", encodeFunctionData({ abi, functionName: "refund", args: [c.escrowId, 1n] })),
    guarded(
      "releaseWithSig",
      encodeFunctionData({ abi, functionName: "releaseWithSig", args: [c.escrowId, maxUint256, maxUint256, "0x"] }),
    ),
    guarded("dispute", encodeFunctionData({ abi, functionName: "dispute", args: [c.escrowId] })),
    guarded("resolve", encodeFunctionData({ abi, functionName: "resolve", args: [c.escrowId, 0n] })),
    guarded("settleExpired", encodeFunctionData({ abi, functionName: "settleExpired", args: [c.escrowId] })),
    guarded(
      "settleExpiredBatch",
      encodeFunctionData({ abi, functionName: "settleExpiredBatch", args: [[c.escrowId, c.escrowId]] }),
    ),
    guarded("withdraw", encodeFunctionData({ abi, functionName: "withdraw", args: [c.token] })),
    guarded("setFee", encodeFunctionData({ abi, functionName: "setFee", args: [0] })),
    guarded("setFeeRecipient", encodeFunctionData({ abi, functionName: "setFeeRecipient", args: [c.attacker] })),
    guarded("pause", encodeFunctionData({ abi, functionName: "pause" })),
    guarded("unpause", encodeFunctionData({ abi, functionName: "unpause" })),
    ownerOnly("transferOwnership", encodeFunctionData({ abi, functionName: "transferOwnership", args: [c.attacker] })),
    ownerOnly("acceptOwnership", encodeFunctionData({ abi, functionName: "acceptOwnership" })),
    ownerOnly("renounceOwnership", encodeFunctionData({ abi, functionName: "renounceOwnership" })),
  ];
}

/** Every external state-changing function of SettlementHub (see {@link escrowTargets}). */
export function hubTargets(w: World, c: ReentryContext): ReentryTarget[] {
  const abi = w.hub.abi;
  const intent = {
    from: w.address("alice"),
    to: c.attacker,
    token: c.token,
    amount: 1n,
    fee: 0n,
    nonce: 0n,
    validAfter: 0n,
    validBefore: 2n ** 40n,
    ref: zeroHash,
  };
  const guarded = (fn: string, data: Hex) => ({ fn, data, expected: REENTRANT_CALL });
  const ownerOnly = (fn: string, data: Hex) => ({ fn, data, expected: UNAUTHORIZED });
  return [
    guarded("deposit", encodeFunctionData({ abi, functionName: "deposit", args: [c.token, 1n] })),
    guarded("depositFor", encodeFunctionData({ abi, functionName: "depositFor", args: [c.attacker, c.token, 1n] })),
    guarded("settle", encodeFunctionData({ abi, functionName: "settle", args: [intent, "0x"] })),
    guarded("settleBatch", encodeFunctionData({ abi, functionName: "settleBatch", args: [[intent], ["0x"]] })),
    guarded("invalidateNonces", encodeFunctionData({ abi, functionName: "invalidateNonces", args: [0n, 1n] })),
    guarded("requestWithdrawal", encodeFunctionData({ abi, functionName: "requestWithdrawal", args: [c.token, 1n] })),
    guarded("withdraw", encodeFunctionData({ abi, functionName: "withdraw", args: [c.token, c.attacker] })),
    guarded("pause", encodeFunctionData({ abi, functionName: "pause" })),
    guarded("unpause", encodeFunctionData({ abi, functionName: "unpause" })),
    ownerOnly("transferOwnership", encodeFunctionData({ abi, functionName: "transferOwnership", args: [c.attacker] })),
    ownerOnly("acceptOwnership", encodeFunctionData({ abi, functionName: "acceptOwnership" })),
    ownerOnly("renounceOwnership", encodeFunctionData({ abi, functionName: "renounceOwnership" })),
  ];
}

/** Every external state-changing function of PaymentChannels (see {@link escrowTargets}). */
export function channelTargets(w: World, c: ReentryContext): ReentryTarget[] {
  const abi = w.channels.abi;
  const guarded = (fn: string, data: Hex) => ({ fn, data, expected: REENTRANT_CALL });
  const ownerOnly = (fn: string, data: Hex) => ({ fn, data, expected: UNAUTHORIZED });
  return [
    guarded(
      "open",
      encodeFunctionData({ abi, functionName: "open", args: [w.address("bob"), c.token, zeroAddress, 1n, zeroHash] }),
    ),
    guarded("topUp", encodeFunctionData({ abi, functionName: "topUp", args: [c.channelId, 1n] })),
    guarded("requestClose", encodeFunctionData({ abi, functionName: "requestClose", args: [c.channelId] })),
    guarded("claim", encodeFunctionData({ abi, functionName: "claim", args: [c.channelId, maxUint256, "0x"] })),
    guarded(
      "claimBatch",
      encodeFunctionData({
        abi,
        functionName: "claimBatch",
        args: [[{ channelId: c.channelId, cumulativeAmount: maxUint256, signature: "0x" }]],
      }),
    ),
    guarded("close", encodeFunctionData({ abi, functionName: "close", args: [c.channelId, 0n, "0x"] })),
    guarded("finalizeClose", encodeFunctionData({ abi, functionName: "finalizeClose", args: [c.channelId] })),
    guarded("withdraw", encodeFunctionData({ abi, functionName: "withdraw", args: [c.token] })),
    guarded("pause", encodeFunctionData({ abi, functionName: "pause" })),
    guarded("unpause", encodeFunctionData({ abi, functionName: "unpause" })),
    ownerOnly("transferOwnership", encodeFunctionData({ abi, functionName: "transferOwnership", args: [c.attacker] })),
    ownerOnly("acceptOwnership", encodeFunctionData({ abi, functionName: "acceptOwnership" })),
    ownerOnly("renounceOwnership", encodeFunctionData({ abi, functionName: "renounceOwnership" })),
  ];
}
