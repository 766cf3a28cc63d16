import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./anvil.js";
import { processStat } from "./proc.js";

/**
 * A throwaway PostgreSQL server for tests and the bench: Debian's `postgresql` package (installed by
 * `.ci/run`), a fresh data directory in the temp folder, a free port on 127.0.0.1, trust
 * authentication for one superuser. The server refuses to run as root, so as root the data
 * directory belongs to the `postgres` user and the server runs as that user (`runuser`).
 */

const SUPERUSER = "settlekit";

/** The PostgreSQL binaries: `SETTLEKIT_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin`. */
export function postgresBinaries(): string | undefined {
  const configured = process.env.SETTLEKIT_PG_BIN;
  if (configured !== undefined && configured !== "") return configured;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? undefined : join(root, versions[0], "bin");
}

export interface PostgresServer {
  port: number;
  /** Connection URL of `database` (default: the `postgres` database). */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<{ name: string; url: string }>;
  dropDatabase(name: string): Promise<void>;
  /** Runs SQL as the superuser on `database` (default `postgres`). */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<Row[]>;
  /**
   * CPU seconds (user + system) the server's processes have used so far: the postmaster and its
   * children alive now (a backend that exited took its count with it); null without `/proc`.
   */
  cpuSeconds(): number | null;
  /** Stops the server (fast shutdown: open connections are cut) and keeps the data directory. */
  stop(): void;
  /** Starts it again on the same port and data directory. */
  restart(): void;
  /** Stops the server and deletes its data directory. */
  dispose(): void;
}

let databases = 0;

/** Initialises a data directory and starts a server on a free port; throws if PostgreSQL is missing. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinaries();
  if (bin === undefined) {
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql, or set SETTLEKIT_PG_BIN",
    );
  }
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "settlekit-pg-"));
  if (asRoot) {
    const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "postgres"]).toString().trim()));
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const command = join(bin, tool);
    if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", command, ...args], { stdio: "pipe" });
    else execFileSync(command, args, { stdio: "pipe" });
  };
  const data = join(dir, "data");
  const log = join(dir, "log");
  const port = await freePort();
  // Durability settings are the defaults (fsync on): crash tests rely on committed data surviving.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const start = () => {
    try {
      run("pg_ctl", ["-D", data, "-o", options, "-l", log, "-w", "-t", "30", "start"]);
    } catch (error) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").slice(-2_000) : "";
      throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${tail}`);
    }
  };
  let running = false;
  const stop = () => {
    if (!running) return;
    running = false;
    run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
  };
  try {
    run("initdb", ["-D", data, "-A", "trust", "-U", SUPERUSER, "--no-sync"]);
    start();
    running = true;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const cleanup = () => {
    try {
      stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("exit", cleanup);

  const url = (database = "postgres") => `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
  const query = async <Row>(sql: string, params: unknown[] = [], database?: string): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Row[];
    } finally {
      await client.end();
    }
  };
  return {
    port,
    url,
    query,
    async createDatabase() {
      const name = `settlekit_${process.pid}_${++databases}`;
      await query(`CREATE DATABASE ${name}`);
      return { name, url: url(name) };
    },
    async dropDatabase(name) {
      await query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    cpuSeconds() {
      try {
        const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
        let seconds = 0;
        for (const entry of readdirSync("/proc")) {
          if (!/^\d+$/.test(entry)) continue;
          const stat = processStat(Number(entry)); // null: exited meanwhile
          if (stat !== null && (Number(entry) === postmaster || stat.ppid === postmaster)) seconds += stat.cpuSeconds;
        }
        return seconds;
      } catch {
        return null;
      }
    },
    stop,
    restart() {
      stop();
      start();
      running = true;
    },
    dispose() {
      process.off("exit", cleanup);
      cleanup();
    },
  };
}

let shared: Promise<PostgresServer> | undefined;

/** One server for the whole test process (started on first use, stopped when the process exits). */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= startPostgres();
  return shared;
}
