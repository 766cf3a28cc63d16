import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getAddress, isAddress, parseEther, parseGwei } from "viem";
import { z } from "zod/v4";

/** The project folder (two levels above this file); the embedded store's default data dir lives in it. */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A secret value that never shows up in logs, JSON or `util.inspect`; read it with `reveal()`. */
export class Secret<T> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toJSON(): string {
    return "[redacted]";
  }
  toString(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Secret([redacted])";
  }
}

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();
const address = z
  .string()
  .refine((value) => isAddress(value, { strict: false }), { message: "must be a 20-byte hex address", abort: true })
  .transform((value) => getAddress(value));
const gwei = z
  .string()
  .regex(/^\d+(\.\d{1,9})?$/, { message: "must be a decimal amount of gwei", abort: true })
  .transform((value) => parseGwei(value));
const ether = z
  .string()
  .regex(/^\d+(\.\d{1,18})?$/, { message: "must be a decimal amount of ether", abort: true })
  .transform((value) => parseEther(value));
/** `token=amount,…`: per token (a 20-byte address; the native currency is the zero address), an amount in its base units. */
const minFees = z.string().transform((value, ctx) => {
  const fees = new Map<string, bigint>();
  for (const entry of value.split(",")) {
    const [token = "", amount = "", ...rest] = entry.split("=").map((part) => part.trim());
    if (rest.length > 0 || !isAddress(token, { strict: false }) || !/^\d+$/.test(amount)) {
      ctx.issues.push({
        code: "custom",
        input: value,
        message: `"${entry.trim()}" is not token=amount (a 20-byte hex address, an integer number of the token's base units)`,
      });
      return z.NEVER;
    }
    if (fees.has(token.toLowerCase())) {
      ctx.issues.push({ code: "custom", input: value, message: `token ${token} is listed twice` });
      return z.NEVER;
    }
    fees.set(token.toLowerCase(), BigInt(amount));
  }
  return fees as ReadonlyMap<string, bigint>;
});
const url = z.string().url();
const bool = z
  .enum(["true", "false", "1", "0", "yes", "no", "on", "off"], { message: "must be true or false" })
  .transform((value) => ["true", "1", "yes", "on"].includes(value));
const blockNumber = z
  .string()
  .regex(/^\d+$/, { message: "must be a block number", abort: true })
  .transform((value) => BigInt(value));

interface OptionSpec {
  /** `--flag` name on the command line. */
  flag: string;
  /** Environment variable. */
  env: string;
  /** Default as it would be typed (undefined: optional, no default). */
  default?: string;
  /** One line for `--help` and the README. */
  doc: string;
  /** Parses the raw string. */
  schema: z.ZodType;
}

/**
 * Every option of the relayer: flag, environment variable, default and meaning. The flag wins
 * over the environment, the environment over the default. Secrets (the relayer key, the
 * keystore password, the admin token) are read from the environment or from files only, never
 * from flags, so they stay out of process lists and shell history.
 */
export const OPTIONS = {
  rpcUrl: {
    flag: "rpc-url",
    env: "RELAYER_RPC_URL",
    default: "http://127.0.0.1:8545",
    doc: "JSON-RPC endpoint of the chain",
    schema: url,
  },
  chainId: {
    flag: "chain-id",
    env: "RELAYER_CHAIN_ID",
    doc: "expected chain id; start-up fails if the RPC reports another (default: whatever the RPC reports)",
    schema: positiveInt,
  },
  hubAddress: {
    flag: "hub",
    env: "RELAYER_HUB_ADDRESS",
    doc: "SettlementHub address (default: the chain's deployment record; without either, payments answer `not_configured`)",
    schema: address,
  },
  escrowAddress: {
    flag: "escrow",
    env: "RELAYER_ESCROW_ADDRESS",
    doc: "Escrow address (default: the chain's deployment record; without either, releases answer `not_configured`)",
    schema: address,
  },
  channelsAddress: {
    flag: "channels",
    env: "RELAYER_CHANNELS_ADDRESS",
    doc: "PaymentChannels address (default: the chain's deployment record; without either, vouchers answer `not_configured`)",
    schema: address,
  },
  host: {
    flag: "host",
    env: "RELAYER_HOST",
    default: "127.0.0.1",
    doc: "HTTP listen address",
    schema: z.string().min(1),
  },
  port: {
    flag: "port",
    env: "RELAYER_PORT",
    default: "8080",
    doc: "HTTP listen port (0: any free port)",
    schema: nonNegativeInt.max(65_535),
  },
  dataDir: {
    flag: "data-dir",
    env: "RELAYER_DATA_DIR",
    default: ".relayer-data",
    doc: "embedded store (PGlite) directory; relative paths are resolved against the project folder",
    schema: z
      .string()
      .min(1)
      .transform((dir) => (isAbsolute(dir) ? dir : resolve(PROJECT_ROOT, dir))),
  },
  databaseUrl: {
    flag: "database-url",
    env: "DATABASE_URL",
    doc: "postgres://… of a Postgres server; replaces the embedded store (needed for more than one instance)",
    schema: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  },
  keystore: {
    flag: "keystore",
    env: "RELAYER_KEYSTORE",
    doc: "encrypted JSON keystore (v3) holding the relayer key; password from RELAYER_KEYSTORE_PASSWORD or --keystore-password-file (otherwise the key comes from RELAYER_PRIVATE_KEY)",
    schema: z.string().min(1),
  },
  keystorePasswordFile: {
    flag: "keystore-password-file",
    env: "RELAYER_KEYSTORE_PASSWORD_FILE",
    doc: "file holding the keystore password",
    schema: z.string().min(1),
  },
  adminTokenFile: {
    flag: "admin-token-file",
    env: "RELAYER_ADMIN_TOKEN_FILE",
    doc: "file holding the admin bearer token (or RELAYER_ADMIN_TOKEN); without a token the admin endpoints answer 401",
    schema: z.string().min(1),
  },
  batchMaxSize: {
    flag: "batch-max-size",
    env: "RELAYER_BATCH_MAX_SIZE",
    default: "200",
    doc: "most intents in one settleBatch transaction",
    schema: positiveInt.max(2_000),
  },
  batchMaxWaitMs: {
    flag: "batch-max-wait-ms",
    env: "RELAYER_BATCH_MAX_WAIT_MS",
    default: "250",
    doc: "longest an accepted intent waits for its batch to fill",
    schema: nonNegativeInt,
  },
  maxInflightBatches: {
    flag: "max-inflight-batches",
    env: "RELAYER_MAX_INFLIGHT_BATCHES",
    default: "8",
    doc: "unconfirmed transactions this instance keeps in flight at once",
    schema: positiveInt.max(64),
  },
  maxFeePerGas: {
    flag: "max-fee-gwei",
    env: "RELAYER_MAX_FEE_GWEI",
    default: "200",
    doc: "fee cap: maxFeePerGas never exceeds it, replacements included (gwei)",
    schema: gwei,
  },
  maxTxFee: {
    flag: "max-tx-fee-eth",
    env: "RELAYER_MAX_TX_FEE_ETH",
    default: "1",
    doc: "most one transaction may cost at its fee cap (gas limit × max fee per gas), as geth refuses more (--rpc.txfeecap, 1 ether by default); a larger transaction gets a lower fee cap per gas; 0: no limit (ether)",
    schema: ether,
  },
  txGasCap: {
    flag: "tx-gas-cap",
    env: "RELAYER_TX_GAS_CAP",
    default: "16777216",
    doc: "largest gas limit of one transaction: EIP-7825's cap (2^24) on chains since Osaka; a settle batch that needs more is split",
    schema: positiveInt.min(1_000_000),
  },
  feeBumpPercent: {
    flag: "fee-bump-percent",
    env: "RELAYER_FEE_BUMP_PERCENT",
    default: "25",
    doc: "fee increase of a replacement transaction (at least 10%, what nodes require)",
    schema: positiveInt.min(10).max(1_000),
  },
  stuckAfterMs: {
    flag: "stuck-after-ms",
    env: "RELAYER_STUCK_AFTER_MS",
    default: "30000",
    doc: "an unmined transaction older than this is replaced with bumped fees",
    schema: positiveInt,
  },
  orphanAfterMs: {
    flag: "orphan-after-ms",
    env: "RELAYER_ORPHAN_AFTER_MS",
    default: "300000",
    doc: "a pending batch of another sending key (an instance gone, a rotated key) unseen this long is adopted: its results applied if mined, its items queued again once the node no longer has its transaction",
    schema: positiveInt.min(1_000),
  },
  confirmations: {
    flag: "confirmations",
    env: "RELAYER_CONFIRMATIONS",
    default: "1",
    doc: "blocks (including the receipt's) before results are final",
    schema: positiveInt.max(1_000),
  },
  reorgWindow: {
    flag: "reorg-window",
    env: "RELAYER_REORG_WINDOW",
    default: "64",
    doc: "blocks during which confirmed batches are still checked for reorgs",
    schema: positiveInt,
  },
  maxAttempts: {
    flag: "max-attempts",
    env: "RELAYER_MAX_ATTEMPTS",
    default: "5",
    doc: "submissions of one intent (batches reverted, dropped or replaced by others) before it fails",
    schema: positiveInt.max(100),
  },
  pollIntervalMs: {
    flag: "poll-interval-ms",
    env: "RELAYER_POLL_INTERVAL_MS",
    default: "250",
    doc: "how often the transaction manager polls the chain",
    schema: positiveInt,
  },
  minValiditySeconds: {
    flag: "min-validity-seconds",
    env: "RELAYER_MIN_VALIDITY_SECONDS",
    default: "30",
    doc: "an intent or release signature must stay valid at least this long to be accepted",
    schema: nonNegativeInt,
  },
  minFee: {
    flag: "min-fee",
    env: "RELAYER_MIN_FEE",
    doc: "smallest fee an intent must pay the relayer, per token, in the token's base units: comma-separated token=amount pairs (the native currency is 0x0000000000000000000000000000000000000000); a token not listed: no minimum",
    schema: minFees,
  },
  balanceCacheMs: {
    flag: "balance-cache-ms",
    env: "RELAYER_BALANCE_CACHE_MS",
    default: "500",
    doc: "how long a hub balance read serves further intents of the same payer (0: read every time)",
    schema: nonNegativeInt,
  },
  claimLeaseMs: {
    flag: "claim-lease-ms",
    env: "RELAYER_CLAIM_LEASE_MS",
    default: "60000",
    doc: "how long claimed intents stay reserved for one instance before others may take them",
    schema: positiveInt,
  },
  automation: {
    flag: "automation",
    env: "RELAYER_AUTOMATION",
    default: "true",
    doc: "index escrow and channel events and act on them: settle expired escrows, claim the latest voucher of channels being closed, finalize closes (true/false)",
    schema: bool,
  },
  automationIntervalMs: {
    flag: "automation-interval-ms",
    env: "RELAYER_AUTOMATION_INTERVAL_MS",
    default: "2000",
    doc: "how often the automation reads new events and acts on them (doubled after each failed round, up to a minute)",
    schema: positiveInt,
  },
  expireBatchSize: {
    flag: "expire-batch-size",
    env: "RELAYER_EXPIRE_BATCH_SIZE",
    default: "50",
    doc: "most escrows in one settleExpiredBatch transaction",
    schema: positiveInt.max(500),
  },
  indexFromBlock: {
    flag: "index-from-block",
    env: "RELAYER_INDEX_FROM_BLOCK",
    doc: "block the indexer starts from when it has no cursor yet (default: the contract's deployment block, found with eth_getCode; 0 if the node keeps no old state)",
    schema: blockNumber,
  },
  indexBlockRange: {
    flag: "index-block-range",
    env: "RELAYER_INDEX_BLOCK_RANGE",
    default: "2000",
    doc: "most blocks per eth_getLogs request (the indexer's, and the search for intents settled by another transaction); a range the node refuses as too large is asked again in halves, down to one block",
    schema: positiveInt.max(100_000),
  },
  indexReorgDepth: {
    flag: "index-reorg-depth",
    env: "RELAYER_INDEX_REORG_DEPTH",
    // As deep as the transaction manager's --reorg-window: a reorg it handles, the index does too.
    default: "64",
    doc: "blocks the indexer reads again when the block under its cursor left the canonical chain",
    schema: positiveInt.max(10_000),
  },
  rateLimit: {
    flag: "rate-limit",
    env: "RELAYER_RATE_LIMIT",
    default: "1000",
    doc: "requests per client (IPv4 address, IPv6 /64) per rate-limit window (each intent of a POST /v1/payments/batch counts as one)",
    schema: positiveInt,
  },
  rateLimitWindowMs: {
    flag: "rate-limit-window-ms",
    env: "RELAYER_RATE_LIMIT_WINDOW_MS",
    default: "1000",
    doc: "rate-limit window",
    schema: positiveInt,
  },
  bodyLimit: {
    flag: "body-limit",
    env: "RELAYER_BODY_LIMIT",
    default: "16384",
    doc: "largest accepted request body (bytes)",
    schema: positiveInt,
  },
  batchBodyLimit: {
    flag: "batch-body-limit",
    env: "RELAYER_BATCH_BODY_LIMIT",
    default: "2097152",
    doc: "largest accepted body of POST /v1/payments/batch (bytes; up to 256 intents)",
    schema: positiveInt,
  },
  logLevel: {
    flag: "log-level",
    env: "RELAYER_LOG_LEVEL",
    default: "info",
    doc: "pino log level (fatal, error, warn, info, debug, trace, silent)",
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  },
} as const satisfies Record<string, OptionSpec>;

type Options = typeof OPTIONS;
type Parsed<K extends keyof Options> = z.output<Options[K]["schema"]>;
type Defaulted = { [K in keyof Options]: Options[K] extends { default: string } ? K : never }[keyof Options];

/** The relayer's configuration: parsed once, frozen. Secrets are `Secret`s and never print. */
export type RelayerConfig = Readonly<
  { [K in Defaulted]: Parsed<K> } & { [K in Exclude<keyof Options, Defaulted>]?: Parsed<K> } & {
    /** The relayer's signing key (from RELAYER_PRIVATE_KEY or the keystore); absent: read-only intake. */
    relayerKey?: Secret<KeySource>;
    adminToken?: Secret<string>;
  }
>;

/** Where the relayer key comes from; the key itself is only decrypted by `loadRelayerKey`. */
export type KeySource =
  | { kind: "env"; privateKey: `0x${string}` }
  | { kind: "keystore"; path: string; password: string };

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const privateKey = z
  .string()
  .regex(/^(0x)?[0-9a-fA-F]{64}$/, { message: "RELAYER_PRIVATE_KEY must be 32 bytes of hex", abort: true })
  .transform((key) => (key.startsWith("0x") ? key : `0x${key}`) as `0x${string}`);

/**
 * Parses the command line and the environment into the relayer's frozen configuration.
 *
 * @example
 * const config = parseConfig(["--port", "0"], { RELAYER_PRIVATE_KEY: "0x…" });
 */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RelayerConfig {
  const flagOptions = Object.fromEntries(
    Object.values(OPTIONS).map((option) => [option.flag, { type: "string" as const }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...flagOptions, help: { type: "boolean" } }, strict: true }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }

  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, option] of Object.entries(OPTIONS) as [keyof Options, OptionSpec][]) {
    const fromFlag = values[option.flag];
    const fromEnv = env[option.env];
    const raw =
      typeof fromFlag === "string" ? fromFlag : fromEnv !== undefined && fromEnv !== "" ? fromEnv : option.default;
    if (raw === undefined) continue;
    const parsed = option.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`--${option.flag} / ${option.env}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  }

  const keySource = readKeySource(out, env, problems);
  if (keySource) out.relayerKey = new Secret(keySource);
  const adminToken = readAdminToken(out, env, problems);
  if (adminToken) out.adminToken = new Secret(adminToken);

  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return Object.freeze(out) as RelayerConfig;
}

function readKeySource(
  out: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): KeySource | undefined {
  const keystore = out.keystore as string | undefined;
  if (keystore !== undefined) {
    let password = env.RELAYER_KEYSTORE_PASSWORD;
    const passwordFile = out.keystorePasswordFile as string | undefined;
    if (passwordFile !== undefined) password = readSecretFile(passwordFile, "--keystore-password-file", problems);
    if (password === undefined) {
      problems.push("--keystore needs RELAYER_KEYSTORE_PASSWORD or --keystore-password-file");
      return undefined;
    }
    return { kind: "keystore", path: keystore, password };
  }
  const raw = env.RELAYER_PRIVATE_KEY;
  if (raw === undefined || raw === "") return undefined;
  const parsed = privateKey.safeParse(raw.trim());
  if (!parsed.success) {
    problems.push("RELAYER_PRIVATE_KEY must be 32 bytes of hex");
    return undefined;
  }
  return { kind: "env", privateKey: parsed.data };
}

function readAdminToken(
  out: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): string | undefined {
  const file = out.adminTokenFile as string | undefined;
  const token = file !== undefined ? readSecretFile(file, "--admin-token-file", problems) : env.RELAYER_ADMIN_TOKEN;
  if (token === undefined || token === "") return undefined;
  if (token.length < 16) {
    problems.push("the admin token must be at least 16 characters");
    return undefined;
  }
  return token;
}

function readSecretFile(path: string, what: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    problems.push(`${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
}

/** `--help` text, generated from OPTIONS so it can never drift from what is parsed. */
export function helpText(): string {
  const lines = [
    "settlekit-relayer — accepts signed payment intents, releases and vouchers; settles them on-chain in batches.",
    "",
    "Usage: settlekit-relayer [options]      (npm start -- [options])",
    "",
    "Options (flag | environment variable | default):",
  ];
  for (const option of Object.values(OPTIONS) as OptionSpec[]) {
    lines.push(`  --${option.flag} <value>   ${option.env}   default: ${option.default ?? "(none)"}`);
    lines.push(`      ${option.doc}`);
  }
  lines.push(
    "",
    "Secrets (environment or files only):",
    "  RELAYER_PRIVATE_KEY          the relayer's signing key (32 bytes hex), unless --keystore is given",
    "  RELAYER_KEYSTORE_PASSWORD    password of --keystore (or --keystore-password-file)",
    "  RELAYER_ADMIN_TOKEN          bearer token of the admin endpoints (or --admin-token-file)",
    "",
    "  --help                       print this text",
  );
  return lines.join("\n");
}
