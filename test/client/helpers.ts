// Shared set-up of the client tests against the in-process Hardhat network.
import { expect } from "chai";
import { network } from "hardhat";
import { type Abi, createWalletClient, custom, type Hex, type LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { SettlekitContractError } from "../../src/client/index.js";

export type Connection = Awaited<ReturnType<typeof network.create>>;

/** A fresh in-process network with its public client and the node's funded accounts. */
export async function connect() {
  const connection = await network.create();
  const publicClient = await connection.viem.getPublicClient();
  const wallets = await connection.viem.getWalletClients();
  return { connection, publicClient, wallets, chainId: await publicClient.getChainId() };
}

/**
 * A wallet client whose key lives in this process (a viem `LocalAccount`), funded with native
 * currency: transactions are signed locally and sent raw, as a dApp's embedded wallet does.
 */
export async function localWallet(connection: Connection, privateKey: Hex) {
  const account: LocalAccount = privateKeyToAccount(privateKey);
  await connection.networkHelpers.setBalance(account.address, 10n ** 24n);
  const publicClient = await connection.viem.getPublicClient();
  return createWalletClient({ account, chain: publicClient.chain, transport: custom(connection.provider) });
}

/**
 * Wraps a client so that every method called through it is recorded in `called`: a suite ends
 * by asserting that each method of its contract was exercised.
 */
export function tracked<T extends object>(client: T, called: Set<string>): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        called.add(property);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Every method name a client built from `abi` has: reads, writes and `…AndWait` variants. */
export function methodNames(abi: Abi): string[] {
  return abi.flatMap((item) => {
    if (item.type !== "function") return [];
    const write = item.stateMutability === "nonpayable" || item.stateMutability === "payable";
    return write ? [item.name, `${item.name}AndWait`] : [item.name];
  });
}

/** Awaits a rejection with a decoded `SettlekitContractError` of `errorName` and `args`. */
export async function expectContractError(promise: Promise<unknown>, errorName: string, args: readonly unknown[]) {
  const error = await promise.then(
    () => expect.fail(`expected a revert with ${errorName}`),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(SettlekitContractError);
  const decoded = error as SettlekitContractError;
  expect(decoded.name).to.equal("SettlekitContractError");
  expect(decoded.errorName).to.equal(errorName);
  expect(decoded.args).to.deep.equal(args);
  return decoded;
}

/** Resolves with the first batch of logs a watcher delivers, or rejects after `ms`. */
export function firstLogs<T>(watch: (onLogs: (logs: T[]) => void) => () => void, ms = 30_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unwatch();
      reject(new Error("no logs delivered"));
    }, ms);
    const unwatch = watch((logs) => {
      clearTimeout(timer);
      unwatch();
      resolve(logs);
    });
  });
}
