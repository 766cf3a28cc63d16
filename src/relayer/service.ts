import { createRequire } from "node:module";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { type Address, getAddress } from "viem";
import type { HealthResponse, StatusBody } from "./api/schemas.js";
import { buildServer } from "./api/server.js";
import { HubReader } from "./chain/hub-reader.js";
import { ChainIndexer } from "./chain/indexer.js";
import type { ChainPort, ChannelsPort, EscrowPort, HubPort, SignatureVerifier, SigningPort } from "./chain/ports.js";
import { TxManager } from "./chain/tx-manager.js";
import type { RelayerConfig } from "./config.js";
import { Gate } from "./intake/gate.js";
import { PaymentIntake } from "./intake/payments.js";
import { ReleaseIntake } from "./intake/releases.js";
import { VoucherIntake } from "./intake/vouchers.js";
import { Automation } from "./jobs/automation.js";
import { Batcher } from "./jobs/batcher.js";
import { Relays } from "./jobs/relays.js";
import { RelayerMetrics } from "./metrics.js";
import type { AutomationCounts, Store } from "./store/store.js";
import { TimeSource } from "./time.js";

const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
/** How often ended database sessions' intent counts are folded together (Postgres). */
const COMPACT_COUNTS_EVERY_MS = 10 * 60_000;

/** What the relayer talks to: the chain (with its key), the signing functions and the contracts. */
export interface RelayerPorts {
  chain: ChainPort;
  signing: SigningPort;
  verifier: SignatureVerifier;
  hub?: HubPort;
  escrow?: EscrowPort;
  channels?: ChannelsPort;
}

export type ServiceConfig = Pick<
  RelayerConfig,
  | "host"
  | "port"
  | "batchMaxSize"
  | "batchMaxWaitMs"
  | "maxInflightBatches"
  | "maxFeePerGas"
  | "maxTxFee"
  | "txGasCap"
  | "feeBumpPercent"
  | "stuckAfterMs"
  | "orphanAfterMs"
  | "confirmations"
  | "reorgWindow"
  | "maxAttempts"
  | "pollIntervalMs"
  | "minValiditySeconds"
  | "minFee"
  | "balanceCacheMs"
  | "claimLeaseMs"
  | "rateLimit"
  | "rateLimitWindowMs"
  | "bodyLimit"
  | "batchBodyLimit"
  | "adminToken"
  | "automation"
  | "automationIntervalMs"
  | "expireBatchSize"
  | "indexFromBlock"
  | "indexBlockRange"
  | "indexReorgDepth"
>;

/** What the automation is doing (for the status page). */
export interface AutomationStatus extends AutomationCounts {
  enabled: boolean;
  /** Last block indexed per contract (absent until the first round of this run). */
  indexedBlock: { escrow?: bigint; channels?: bigint };
  /** When the last round ended (ms since the epoch), and whether it succeeded. */
  lastRound?: { atMs: number; ok: boolean; error?: string };
}

export interface RelayerServiceOptions {
  config: ServiceConfig;
  ports: RelayerPorts;
  store: Store;
  chainId: number;
  logger: Logger;
  metrics?: RelayerMetrics;
  time?: TimeSource;
  /** Start the background loops (batching, relays, chain polling); tests drive them by hand. */
  background?: boolean;
}

/**
 * The relayer, assembled: API, intake, batcher, relays and the transaction manager over one
 * store and one key. `start()` resumes whatever a previous run left (claims, in-flight
 * transactions) before it listens; `stop()` shuts down without losing anything: it refuses new
 * work, persists every request already in, sends the batch being formed, gives in-flight
 * transactions a few seconds to confirm, and closes the store (the next start resumes the rest).
 */
export class RelayerService {
  readonly gate = new Gate();
  readonly metrics: RelayerMetrics;
  readonly time: TimeSource;
  readonly txManager: TxManager;
  readonly reader?: HubReader;
  readonly payments?: PaymentIntake;
  readonly batcher?: Batcher;
  readonly relays: Relays;
  readonly indexer?: ChainIndexer;
  readonly automation?: Automation;
  app?: FastifyInstance;
  #poll: NodeJS.Timeout | undefined;
  #compaction: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #chainHealthy = true;
  /** The health check in flight, shared by every `/healthz` request that arrives while it runs. */
  #healthChecks: Promise<HealthResponse["checks"]> | undefined;

  constructor(private readonly o: RelayerServiceOptions) {
    const { config, ports, store, logger } = o;
    this.metrics = o.metrics ?? new RelayerMetrics({ defaultMetrics: true });
    this.time = o.time ?? new TimeSource();
    this.txManager = new TxManager({
      chain: ports.chain,
      store,
      metrics: this.metrics,
      logger,
      time: this.time,
      maxFeePerGas: config.maxFeePerGas,
      maxTxFee: config.maxTxFee,
      txGasCap: BigInt(config.txGasCap),
      feeBumpPercent: config.feeBumpPercent,
      stuckAfterMs: config.stuckAfterMs,
      orphanAfterMs: config.orphanAfterMs,
      confirmations: config.confirmations,
      reorgWindow: config.reorgWindow,
      maxAttempts: config.maxAttempts,
    });
    if (ports.hub) {
      this.reader = new HubReader(ports.hub, {
        balanceTtlMs: config.balanceCacheMs,
        headBlock: () => this.txManager.head,
      });
      this.payments = new PaymentIntake({
        hub: ports.hub.address,
        chainId: o.chainId,
        signing: ports.signing,
        verifier: ports.verifier,
        reader: this.reader,
        store,
        gate: this.gate,
        time: this.time,
        metrics: this.metrics,
        logger,
        minValiditySeconds: config.minValiditySeconds,
        minFees: config.minFee,
        onAccepted: (payment) => this.batcher?.noteAccepted(payment.token),
      });
      this.batcher = new Batcher({
        hub: ports.hub,
        chain: ports.chain,
        store,
        txManager: this.txManager,
        reader: this.reader,
        gate: this.gate,
        time: this.time,
        metrics: this.metrics,
        logger,
        maxBatchSize: config.batchMaxSize,
        maxWaitMs: config.batchMaxWaitMs,
        maxInflight: config.maxInflightBatches,
        claimLeaseMs: config.claimLeaseMs,
        maxAttempts: config.maxAttempts,
        logBlockRange: config.indexBlockRange,
      });
    }
    this.relays = new Relays({
      escrow: ports.escrow,
      channels: ports.channels,
      chain: ports.chain,
      store,
      txManager: this.txManager,
      gate: this.gate,
      time: this.time,
      metrics: this.metrics,
      logger,
      claimLeaseMs: config.claimLeaseMs,
      maxAttempts: config.maxAttempts,
    });
    if (config.automation && (ports.escrow || ports.channels)) {
      this.indexer = new ChainIndexer({
        chain: ports.chain,
        store,
        escrow: ports.escrow,
        channels: ports.channels,
        metrics: this.metrics,
        logger,
        fromBlock: config.indexFromBlock,
        blockRange: config.indexBlockRange,
        reorgDepth: config.indexReorgDepth,
      });
      this.automation = new Automation({
        escrow: ports.escrow,
        channels: ports.channels,
        chain: ports.chain,
        store,
        txManager: this.txManager,
        indexer: this.indexer,
        relays: this.relays,
        gate: this.gate,
        time: this.time,
        metrics: this.metrics,
        logger,
        expireBatchSize: config.expireBatchSize,
        maxAttempts: config.maxAttempts,
      });
    }
  }

  /** Resumes the previous run's work, starts the loops and listens; returns the API's URL. */
  async start(): Promise<string> {
    const { config, ports, store, logger } = this.o;
    await this.txManager.start();
    if (this.o.background !== false) {
      await this.batcher?.start();
      this.relays.start(config.pollIntervalMs);
      this.automation?.start(config.automationIntervalMs);
      this.#poll = setInterval(() => {
        this.#polling ??= this.pollChain().finally(() => {
          this.#polling = undefined;
        });
      }, config.pollIntervalMs);
      // Pooled Postgres connections come and go, each leaving rows of intent counts behind.
      const compact = () =>
        store.compactCounts().catch((error: unknown) => logger.warn({ err: error }, "compacting intent counts failed"));
      await compact();
      this.#compaction = setInterval(compact, COMPACT_COUNTS_EVERY_MS);
      this.#compaction.unref();
    }
    this.app = await this.buildApi();
    const url = await this.app.listen({ host: config.host, port: config.port });
    logger.info(
      {
        url,
        relayer: ports.chain.sender,
        chainId: this.o.chainId,
        hub: ports.hub?.address,
        escrow: ports.escrow?.address,
        channels: ports.channels?.address,
        store: store.backend,
      },
      "relayer listening",
    );
    return url;
  }

  /** The HTTP API without listening (tests use `inject`). */
  buildApi(): Promise<FastifyInstance> {
    const { config, ports, store, logger } = this.o;
    return buildServer({
      payments: this.payments,
      releases: ports.escrow
        ? new ReleaseIntake({
            escrow: ports.escrow,
            chainId: this.o.chainId,
            signing: ports.signing,
            verifier: ports.verifier,
            store,
            gate: this.gate,
            time: this.time,
            logger,
            minValiditySeconds: config.minValiditySeconds,
          })
        : undefined,
      vouchers: ports.channels
        ? new VoucherIntake({
            channels: ports.channels,
            chainId: this.o.chainId,
            signing: ports.signing,
            verifier: ports.verifier,
            store,
            gate: this.gate,
            logger,
          })
        : undefined,
      channels: ports.channels?.address,
      store,
      gate: this.gate,
      metrics: this.metrics,
      logger,
      health: () => this.health(),
      status: () => this.status(),
      adminToken: config.adminToken?.reveal(),
      bodyLimit: config.bodyLimit,
      batchBodyLimit: config.batchBodyLimit,
      rateLimit: { max: config.rateLimit, windowMs: config.rateLimitWindowMs },
      version: VERSION,
    });
  }

  /** One chain poll: transactions, and the chain's clock for validity windows (the tick reads the head). */
  async pollChain(): Promise<void> {
    try {
      await this.txManager.tick();
      if (!this.#chainHealthy) this.o.logger.info("chain reachable again");
      this.#chainHealthy = true;
    } catch (error) {
      if (this.#chainHealthy) this.o.logger.warn({ err: error }, "chain poll failed; retrying");
      this.#chainHealthy = false;
    }
  }

  /**
   * Liveness and readiness. The store and chain checks are shared by the requests that arrive
   * while one runs, so a flood of probes (the endpoint is not rate limited) costs at most one
   * store query and one chain call at a time; a request arriving after a check ended starts a new one.
   */
  async health(): Promise<HealthResponse> {
    this.#healthChecks ??= this.#runHealthChecks().finally(() => {
      this.#healthChecks = undefined;
    });
    // The node refusing to take back the relayer's transactions (a key out of funds, say): what
    // it accepts would not settle.
    const checks: HealthResponse["checks"] = {
      ...(await this.#healthChecks),
      sending: this.txManager.refused > 0 ? "failing" : "ok",
    };
    const address = (value: Address | undefined) => value ?? null;
    return {
      status: Object.values(checks).every((c) => c === "ok") ? "ok" : "degraded",
      paused: this.gate.paused,
      chainId: this.o.chainId,
      relayer: this.o.ports.chain.sender,
      hub: address(this.o.ports.hub?.address),
      escrow: address(this.o.ports.escrow?.address),
      channels: address(this.o.ports.channels?.address),
      store: this.o.store.backend,
      inflightTransactions: this.txManager.inflight,
      checks,
    };
  }

  async #runHealthChecks(): Promise<HealthResponse["checks"]> {
    const checks: Record<string, "ok" | "failing"> = {};
    await Promise.all([
      this.o.store.schemaVersions().then(
        () => {
          checks.store = "ok";
        },
        () => {
          checks.store = "failing";
        },
      ),
      this.o.ports.chain.getBlockNumber().then(
        () => {
          checks.chain = "ok";
        },
        () => {
          checks.chain = "failing";
        },
      ),
    ]);
    return checks;
  }

  /**
   * The status page's figures: queue and totals from the store, the settlement rate over the
   * last `windowSeconds`, the latest transactions, watched channels, and the relayer's balance.
   */
  async status(windowSeconds = 10): Promise<StatusBody> {
    const { ports, store } = this.o;
    const [snapshot, blockNumber, balance, automation] = await Promise.all([
      store.statusSnapshot({
        hub: ports.hub?.address,
        channels: ports.channels?.address,
        sender: ports.chain.sender,
        windowSeconds,
        limit: 10,
      }),
      ports.chain.getBlockNumber(),
      ports.chain.getBalance().catch(() => null),
      this.automation === undefined ? undefined : this.automationStatus(),
    ]);
    return {
      time: new Date().toISOString(),
      chainId: this.o.chainId,
      relayer: ports.chain.sender,
      paused: this.gate.paused,
      minFees: [...(this.o.config.minFee ?? new Map<string, bigint>())].map(([token, amount]) => ({
        token: getAddress(token),
        amount: amount.toString(),
      })),
      blockNumber: blockNumber.toString(),
      relayerBalance: balance?.toString() ?? null,
      queue: {
        accepted: snapshot.intents.accepted,
        submitted: snapshot.intents.submitted,
        inflightTransactions: this.txManager.inflight,
      },
      intents: { settled: snapshot.intents.settled, failed: snapshot.intents.failed },
      settledPerSecond: snapshot.settledInWindow / windowSeconds,
      windowSeconds,
      recentSettlements: snapshot.recentBatches.map((b) => ({
        kind: b.kind,
        size: b.size,
        status: b.status,
        txHash: b.txHash,
        blockNumber: b.blockNumber.toString(),
        at: b.at.toISOString(),
      })),
      channels: {
        watched: snapshot.watchedChannels.count,
        closing: automation?.channelsClosing ?? null,
        latest: snapshot.watchedChannels.latest.map((v) => ({
          channelId: v.channelId,
          cumulativeAmount: v.cumulativeAmount.toString(),
          claimedAmount: v.claimedAmount.toString(),
          claimRequested: v.claimRequested,
        })),
      },
      escrows:
        automation === undefined
          ? null
          : { waiting: automation.escrowsWaiting, due: automation.escrowsDue, disputed: automation.escrowsDisputed },
    };
  }

  /** What the automation watches: escrows waiting for expiry, channels being closed, indexing progress. */
  async automationStatus(): Promise<AutomationStatus> {
    const counts = await this.o.store.automationCounts({
      escrow: this.o.ports.escrow?.address,
      channels: this.o.ports.channels?.address,
      nowSeconds: this.automation?.chainSeconds ?? this.time.seconds(),
    });
    return {
      enabled: this.automation !== undefined,
      ...counts,
      indexedBlock: {
        escrow: this.indexer?.indexedBlock("escrow"),
        channels: this.indexer?.indexedBlock("channels"),
      },
      lastRound: this.automation?.lastRound,
    };
  }

  /** Graceful shutdown; `drainMs` bounds the wait for in-flight transactions. */
  async stop(drainMs = 10_000): Promise<void> {
    const { logger } = this.o;
    this.gate.closing = true;
    logger.info("shutting down: refusing new work");
    await this.payments?.drained();
    await this.app?.close();
    await this.batcher?.stop();
    await this.automation?.stop();
    await this.relays.stop();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#compaction) clearInterval(this.#compaction);
    await this.#polling;
    const deadline = Date.now() + drainMs;
    while (this.o.background !== false && this.txManager.inflight > 0 && Date.now() < deadline) {
      await this.pollChain();
      if (this.txManager.inflight > 0)
        await new Promise((resolve) => setTimeout(resolve, this.o.config.pollIntervalMs));
    }
    if (this.txManager.inflight > 0) {
      logger.warn({ inflight: this.txManager.inflight }, "in-flight transactions left for the next start to follow");
    }
    await this.o.store.close();
    logger.info("relayer stopped");
  }
}
