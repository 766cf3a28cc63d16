import { parentPort, workerData } from "node:worker_threads";
import { openPgliteDriver } from "./pglite-driver.js";
import { migrate, SqlStore } from "./sql-store.js";
import type { WorkerRequest, WorkerResponse } from "./worker-store.js";

/** The store worker: owns the PGlite database and answers `Store` calls from the main thread. */
const port = parentPort;
if (port === null) throw new Error("store-worker-main runs in a worker thread");
const post = (message: WorkerResponse) => port.postMessage(message);

try {
  const driver = await openPgliteDriver((workerData as { dataDir: string }).dataDir);
  await migrate(driver);
  const store = new SqlStore(driver);
  port.on("message", async ({ id, method, args }: WorkerRequest) => {
    try {
      const result =
        method === "close"
          ? await store.close()
          : await (store[method] as (...a: unknown[]) => Promise<unknown>)(...args);
      post({ id, result });
    } catch (error) {
      const e = error as Error & { code?: string };
      post({ id, error: { name: e.name, message: e.message, code: e.code } });
    }
  });
  post({ type: "ready" });
} catch (error) {
  post({ type: "failed", message: (error as Error).message });
}
