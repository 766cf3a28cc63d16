import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { openStore } from "../../../src/relayer/store/open.js";
import type { SqlStore } from "../../../src/relayer/store/sql-store.js";

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

export interface TempStore {
  /** The open store (a test that reopens the directory puts the new one here). */
  store: SqlStore;
  dir: string;
  /** Closes the current store and deletes its directory. */
  dispose(): Promise<void>;
}

/** A migrated PGlite store in a fresh temporary directory. */
export async function tempStore(): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), "settlekit-store-"));
  cpSync(await templateDir(), dir, { recursive: true });
  const temp: TempStore = {
    store: (await openStore({ dataDir: dir, inProcess: true })) as SqlStore,
    dir,
    async dispose() {
      await temp.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return temp;
}
