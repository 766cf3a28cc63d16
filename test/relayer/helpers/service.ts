import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { type Address, getAddress, type Hex, parseGwei, toHex } from "viem";
import type {
  ChainLog,
  ChannelsPort,
  ChannelView,
  ContractEvent,
  EscrowPort,
  EscrowView,
} from "../../../src/relayer/chain/ports.js";
import { Secret } from "../../../src/relayer/config.js";
import { RelayerMetrics } from "../../../src/relayer/metrics.js";
import { RelayerService, type ServiceConfig } from "../../../src/relayer/service.js";
import type { Store } from "../../../src/relayer/store/store.js";
import type { TimeSource } from "../../../src/relayer/time.js";
import { FakeChain } from "./fake-chain.js";
import { FakeHub, FakeVerifier, fakeSigning } from "./fake-hub.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** The service settings the tests use unless they say otherwise. */
export function serviceConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    host: "127.0.0.1",
    port: 0,
    batchMaxSize: 50,
    batchMaxWaitMs: 20,
    maxInflightBatches: 4,
    maxFeePerGas: parseGwei("100"),
    maxTxFee: 10n ** 18n,
    txGasCap: 16_777_216,
    feeBumpPercent: 25,
    stuckAfterMs: 30_000,
    orphanAfterMs: 300_000,
    confirmations: 1,
    reorgWindow: 16,
    maxAttempts: 5,
    pollIntervalMs: 25,
    minValiditySeconds: 30,
    balanceCacheMs: 0,
    claimLeaseMs: 60_000,
    rateLimit: 100_000,
    rateLimitWindowMs: 1_000,
    bodyLimit: 16_384,
    batchBodyLimit: 2_097_152,
    adminToken: new Secret(ADMIN_TOKEN),
    automation: true,
    automationIntervalMs: 50,
    expireBatchSize: 50,
    indexBlockRange: 2_000,
    indexReorgDepth: 4,
    ...overrides,
  };
}

/** Events a fake contract "emitted", for the indexer: a test pushes them with their block. */
function eventsIn<K>(events: readonly ContractEvent<K>[], fromBlock: bigint, toBlock: bigint): ContractEvent<K>[] {
  return events.filter((e) => e.blockNumber >= fromBlock && e.blockNumber <= toBlock);
}

/** Topic of the fake `EscrowExpired` log (`expiredLog`); the escrow id is the second topic. */
export const EXPIRED_TOPIC = toHex("EscrowExpired", { size: 32 });

/** Fresh contract addresses per fake, so tests sharing a store never see each other's rows. */
const randomContract = (): Address => getAddress(toHex(randomBytes(20)));

export class FakeEscrow implements EscrowPort {
  readonly address: Address = randomContract();
  readonly escrows = new Map<bigint, EscrowView>();
  readonly events: ContractEvent<bigint>[] = [];
  timeout = 3_600n;
  async getEscrow(id: bigint) {
    return this.escrows.get(id) ?? null;
  }
  async resolutionTimeout() {
    return this.timeout;
  }
  async getEvents(fromBlock: bigint, toBlock: bigint) {
    return eventsIn(this.events, fromBlock, toBlock);
  }
  encodeReleaseWithSig(release: { id: bigint; releasedTotal: bigint; deadline: bigint }, signature: Hex): Hex {
    return toHex(`release ${release.id} ${release.releasedTotal} ${signature}`);
  }
  encodeSettleExpired(id: bigint): Hex {
    return toHex(`settleExpired ${id}`);
  }
  encodeSettleExpiredBatch(ids: readonly bigint[]): Hex {
    return toHex(`expire ${ids.join(",")}`);
  }
  /** The ids a fake `settleExpired`/`settleExpiredBatch` call carries. */
  idsOf(data: Hex): bigint[] {
    const text = Buffer.from(data.slice(2), "hex").toString();
    const [kind, list] = text.split(" ");
    return kind === "settleExpired" || kind === "expire" ? list.split(",").filter(Boolean).map(BigInt) : [];
  }
  expiredLog(id: bigint): ChainLog {
    return {
      address: this.address,
      topics: [EXPIRED_TOPIC, toHex(id, { size: 32 })],
      data: "0x",
      blockNumber: 0n,
      blockHash: toHex(0n, { size: 32 }),
      transactionHash: toHex(0n, { size: 32 }),
    };
  }
  decodeExpired(logs: readonly ChainLog[]): bigint[] {
    return logs
      .filter((log) => log.address === this.address && log.topics[0] === EXPIRED_TOPIC)
      .map((log) => BigInt(log.topics[1]));
  }
}

export class FakeChannels implements ChannelsPort {
  readonly address: Address = randomContract();
  readonly channels = new Map<string, ChannelView>();
  readonly events: ContractEvent<Hex>[] = [];
  async getChannel(channelId: Hex) {
    return this.channels.get(channelId.toLowerCase()) ?? null;
  }
  async getEvents(fromBlock: bigint, toBlock: bigint) {
    return eventsIn(this.events, fromBlock, toBlock);
  }
  encodeClaim(voucher: { channelId: Hex; cumulativeAmount: bigint }, signature: Hex): Hex {
    return toHex(`claim ${voucher.channelId} ${voucher.cumulativeAmount} ${signature}`);
  }
  encodeFinalizeClose(channelId: Hex): Hex {
    return toHex(`finalize ${channelId}`);
  }
}

export interface FakeWorld {
  chain: FakeChain;
  hub: FakeHub;
  verifier: FakeVerifier;
  escrow: FakeEscrow;
  channels: FakeChannels;
  service: RelayerService;
}

/** A relayer over fake ports and the given store; background loops off unless asked; the wall clock unless `time`. */
export function fakeWorld(
  store: Store,
  options: { config?: Partial<ServiceConfig>; background?: boolean; contracts?: boolean; time?: TimeSource } = {},
): FakeWorld {
  const chain = new FakeChain();
  chain.automine = true;
  const hub = new FakeHub(chain);
  const verifier = new FakeVerifier();
  const escrow = new FakeEscrow();
  const channels = new FakeChannels();
  const withContracts = options.contracts !== false;
  const service = new RelayerService({
    config: serviceConfig(options.config),
    chainId: chain.chainId,
    store,
    logger: pino({ level: "silent" }),
    metrics: new RelayerMetrics(),
    background: options.background ?? false,
    time: options.time,
    ports: {
      chain,
      signing: fakeSigning,
      verifier,
      hub: withContracts ? hub : undefined,
      escrow: withContracts ? escrow : undefined,
      channels: withContracts ? channels : undefined,
    },
  });
  return { chain, hub, verifier, escrow, channels, service };
}
