import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sharedPostgres } from "../../../scripts/lib/postgres.js";
import { openStore } from "../../../src/relayer/store/open.js";
import type { SqlStore } from "../../../src/relayer/store/sql-store.js";

/**
 * The store backend the relayer tests run on: `SETTLEKIT_TEST_STORE=postgres` runs them against
 * a real PostgreSQL server (started by `scripts/lib/postgres.ts`, one database per store); the
 * default is the embedded PGlite store.
 */
export type TestBackend = "pglite" | "postgres";

export function testBackend(): TestBackend {
  const value = process.env.SETTLEKIT_TEST_STORE ?? "pglite";
  if (value !== "pglite" && value !== "postgres") {
    throw new Error(`SETTLEKIT_TEST_STORE must be pglite or postgres, not ${value}`);
  }
  return value;
}

let template: Promise<string> | undefined;

/** An initialised, empty PGlite data directory, created once per test run (initdb takes seconds). */
function templateDir(): Promise<string> {
  template ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "settlekit-pglite-template-"));
    const db = await PGlite.create(dir);
    await db.close();
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return template;
}

/** Where a relayer keeps its state: the options `openStore` takes and the matching CLI flags. */
export interface StoreLocation {
  backend: TestBackend;
  /** `openStore` options (a PGlite data directory, or a Postgres URL). */
  options: { dataDir: string; databaseUrl?: string };
  /** The same as `settlekit-relayer` flags. */
  flags: string[];
  /** Deletes the directory or drops the database. */
  remove(): Promise<void>;
}

/** A fresh, empty store location on the backend under test (nothing opened yet). */
export async function storeLocation(backend: TestBackend = testBackend()): Promise<StoreLocation> {
  const dir = mkdtempSync(join(tmpdir(), "settlekit-store-"));
  if (backend === "pglite") {
    cpSync(await templateDir(), dir, { recursive: true });
    return {
      backend,
      options: { dataDir: dir },
      flags: ["--data-dir", dir],
      async remove() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const server = await sharedPostgres();
  const database = await server.createDatabase();
  return {
    backend,
    options: { dataDir: dir, databaseUrl: database.url },
    flags: ["--data-dir", dir, "--database-url", database.url],
    async remove() {
      rmSync(dir, { recursive: true, force: true });
      await server.dropDatabase(database.name);
    },
  };
}

export interface TempStore {
  /** The open store (a test that reopens it puts the new one here). */
  store: SqlStore;
  location: StoreLocation;
  /** Opens the same store again, in this thread (the current one must be closed first). */
  reopen(): Promise<SqlStore>;
  /** Closes the current store and deletes its directory or database. */
  dispose(): Promise<void>;
}

/** A migrated store, in this thread, on the backend under test (PGlite in a fresh directory, or a fresh Postgres database). */
export async function tempStore(backend: TestBackend = testBackend()): Promise<TempStore> {
  const location = await storeLocation(backend);
  const open = async () => (await openStore({ ...location.options, inProcess: true })) as SqlStore;
  const temp: TempStore = {
    store: await open(),
    location,
    reopen: open,
    async dispose() {
      await temp.store.close();
      await location.remove();
    },
  };
  return temp;
}
