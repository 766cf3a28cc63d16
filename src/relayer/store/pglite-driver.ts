import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { SqlDriver, SqlQueryable } from "./driver.js";

function queryable(db: PGlite | Transaction): SqlQueryable {
  return {
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await db.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
  };
}

/** The embedded store: Postgres compiled to WASM, in this process, persisted to `dataDir`. */
export async function openPgliteDriver(dataDir: string): Promise<SqlDriver> {
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const base = queryable(db);
  return {
    backend: "pglite",
    query: base.query,
    exec: base.exec,
    transaction: (fn) => db.transaction((tx) => fn(queryable(tx))),
    close: () => db.close(),
  };
}
