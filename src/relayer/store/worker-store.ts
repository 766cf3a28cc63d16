import { Worker } from "node:worker_threads";
import type { SqlStore } from "./sql-store.js";
import type { Store } from "./store.js";

/** Every `Store` method; the worker store forwards each to the `SqlStore` in its thread. */
export const STORE_METHODS = [
  "insertIntents",
  "getIntent",
  "reservations",
  "queueGroups",
  "claimIntents",
  "submittedIntents",
  "releaseClaims",
  "failAcceptedIntents",
  "settleAcceptedIntents",
  "createBatch",
  "recordAttempt",
  "markAttemptRejected",
  "applyPaymentResults",
  "confirmBatch",
  "abandonBatch",
  "reopenBatch",
  "pendingBatches",
  "getBatch",
  "confirmedBatchesSince",
  "insertRelease",
  "getRelease",
  "claimReleases",
  "submittedReleases",
  "setReleaseOutcome",
  "upsertVoucher",
  "getVoucher",
  "claimableVouchers",
  "markVoucherClaimed",
  "dropClaimRequest",
  "getCursor",
  "setCursor",
  "upsertIndexedEscrows",
  "upsertIndexedChannels",
  "escrowIdsIndexedAfter",
  "channelIdsIndexedAfter",
  "dueEscrows",
  "closingChannels",
  "automationCounts",
  "statusSnapshot",
  "reservationMismatches",
  "countMismatches",
  "heartbeat",
  "adoptOrphanedBatches",
  "compactCounts",
  "schemaVersions",
] as const satisfies readonly Exclude<keyof Store & keyof SqlStore, "backend" | "close">[];

export type WorkerRequest = { id: number; method: (typeof STORE_METHODS)[number] | "close"; args: unknown[] };
export type WorkerResponse =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { id: number; result: unknown }
  | { id: number; error: { name: string; message: string; code?: string } };

/**
 * The embedded store in a worker thread. PGlite is Postgres compiled to WebAssembly and runs
 * synchronously in whatever thread owns it; in the main thread every query would stall the
 * HTTP event loop (a 200-intent batch update takes tens of milliseconds). Here the database
 * owns the second core and the API keeps the first; calls cross by message passing
 * (structured clone keeps bigints and dates).
 */
export async function openWorkerStore(dataDir: string): Promise<Store> {
  const worker = new Worker(new URL("./store-worker.mjs", import.meta.url), { workerData: { dataDir } });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  let failure: Error | undefined;

  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: WorkerResponse) => {
      if ("type" in message) {
        worker.off("error", onError);
        if (message.type === "ready") resolve();
        else reject(new Error(`store worker: ${message.message}`));
      }
    };
    const onError = (error: Error) => reject(error);
    worker.once("message", onMessage);
    worker.once("error", onError);
  });

  worker.on("message", (message: WorkerResponse) => {
    if ("type" in message) return;
    const waiting = pending.get(message.id);
    if (waiting === undefined) return;
    pending.delete(message.id);
    if ("error" in message) {
      const error = Object.assign(new Error(message.error.message), { code: message.error.code });
      error.name = message.error.name;
      waiting.reject(error);
    } else waiting.resolve(message.result);
  });
  const fail = (error: Error) => {
    failure = error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`store worker exited (${code})`)));

  const call = (method: WorkerRequest["method"], args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      if (failure) return reject(failure);
      const id = ++next;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args } satisfies WorkerRequest);
    });

  const store: Record<string, unknown> = { backend: "pglite" };
  for (const method of STORE_METHODS) store[method] = (...args: unknown[]) => call(method, args);
  store.close = async () => {
    await call("close", []);
    await worker.terminate();
  };
  return store as unknown as Store;
}
