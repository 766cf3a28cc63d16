import pg from "pg";
import type { SqlDriver, SqlQueryable } from "./driver.js";

/** A Postgres server (`DATABASE_URL`): what several relayer instances share. */
export async function openPostgresDriver(connectionString: string, maxConnections = 10): Promise<SqlDriver> {
  const pool = new pg.Pool({ connectionString, max: maxConnections });
  // An idle connection the server closes (restart, terminated backend) is an 'error' on the pool;
  // unlistened, it would crash the process. The pool drops that client; the next query reconnects.
  pool.on("error", () => undefined);
  // Fail at start-up, not on the first request, when the server is unreachable.
  const probe = await pool.connect();
  probe.release();

  const over = (client: pg.Pool | pg.PoolClient): SqlQueryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  });
  const base = over(pool);
  return {
    backend: "postgres",
    query: base.query,
    exec: base.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(over(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
