import type { SqlDriver } from "./driver.js";
import { openPgliteDriver } from "./pglite-driver.js";
import { openPostgresDriver } from "./postgres-driver.js";
import { migrate, SqlStore } from "./sql-store.js";
import type { Store } from "./store.js";
import { openWorkerStore } from "./worker-store.js";

/**
 * Opens the configured store and brings its schema up to date: a Postgres server when
 * `databaseUrl` is set, otherwise the embedded PGlite store in `dataDir` — in a worker thread
 * of its own (see `worker-store.ts`), or in this thread with `inProcess` (unit tests).
 */
export async function openStore(options: {
  databaseUrl?: string;
  dataDir: string;
  inProcess?: boolean;
}): Promise<Store> {
  if (options.databaseUrl === undefined && options.inProcess !== true) return openWorkerStore(options.dataDir);
  const driver: SqlDriver =
    options.databaseUrl !== undefined
      ? await openPostgresDriver(options.databaseUrl)
      : await openPgliteDriver(options.dataDir);
  try {
    await migrate(driver);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlStore(driver);
}
