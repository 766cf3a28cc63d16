import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The relayer's Prometheus metrics, on a registry of its own (served at `GET /metrics`). */
export class RelayerMetrics {
  readonly registry = new Registry();

  readonly accepted = new Counter({
    name: "relayer_intents_accepted_total",
    help: "Payment intents accepted (new digests only)",
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: "relayer_intents_duplicate_total",
    help: "Payment intents submitted again (answered with the existing status)",
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: "relayer_requests_rejected_total",
    help: "Requests rejected, by error code",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly settled = new Counter({
    name: "relayer_intents_settled_total",
    help: "Payment intents settled on-chain (confirmed)",
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: "relayer_intents_failed_total",
    help: "Payment intents that failed, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly acceptLatency = new Histogram({
    name: "relayer_accept_duration_seconds",
    help: "Time to validate and persist one payment intent",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly settleLatency = new Histogram({
    name: "relayer_settlement_latency_seconds",
    help: "Time from acceptance to confirmed settlement",
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: "relayer_batch_size",
    help: "Intents per settleBatch transaction",
    buckets: [1, 5, 10, 25, 50, 100, 200, 400, 800],
    registers: [this.registry],
  });
  readonly transactions = new Counter({
    name: "relayer_transactions_total",
    help: "Transactions by event (sent, replaced, rebroadcast, confirmed, reverted, reorged, abandoned, filler)",
    labelNames: ["event"],
    registers: [this.registry],
  });
  readonly inflight = new Gauge({
    name: "relayer_inflight_transactions",
    help: "Transactions sent and not yet confirmed",
    registers: [this.registry],
  });
  readonly refused = new Gauge({
    name: "relayer_refused_transactions",
    help: "In-flight transactions the node no longer has and refused to take back at the latest try (a key out of funds, say)",
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "relayer_queue_depth",
    help: "Accepted intents waiting for a batch (sampled by the batcher)",
    registers: [this.registry],
  });
  readonly escrowsSettled = new Counter({
    name: "relayer_escrows_settled_total",
    help: "Escrows settled on expiry by the relayer's settleExpiredBatch transactions (confirmed)",
    registers: [this.registry],
  });
  readonly watchtowerClaims = new Counter({
    name: "relayer_watchtower_claims_total",
    help: "Voucher claims sent for channels whose close was requested",
    registers: [this.registry],
  });
  readonly channelsFinalized = new Counter({
    name: "relayer_channels_finalized_total",
    help: "Channel closes finalized by the relayer's finalizeClose transactions (confirmed)",
    registers: [this.registry],
  });
  readonly automationSkipped = new Counter({
    name: "relayer_automation_skipped_total",
    help: "Automation actions left out, by kind (expire, claim, finalize): their simulation reverted, an escrow needs too much gas, or their transaction reverted",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly automationErrors = new Counter({
    name: "relayer_automation_errors_total",
    help: "Automation rounds that failed (RPC or store errors; retried with backoff)",
    registers: [this.registry],
  });
  readonly indexedBlock = new Gauge({
    name: "relayer_indexed_block",
    help: "Last block the chain indexer has read, by contract",
    labelNames: ["contract"],
    registers: [this.registry],
  });
  readonly indexerReorgs = new Counter({
    name: "relayer_indexer_reorgs_total",
    help: "Reorgs found under the indexer's cursor, by contract",
    labelNames: ["contract"],
    registers: [this.registry],
  });
  readonly paused = new Gauge({
    name: "relayer_paused",
    help: "1 while an operator has paused the relayer",
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
