import type { Logger } from "pino";
import type { Address } from "viem";
import { loadDeployment, SettlekitDeploymentNotFoundError } from "../client/index.js";
import {
  ClientChannelsPort,
  ClientEscrowPort,
  ClientHubPort,
  clientSigning,
  clientVerifier,
} from "./chain/client-adapters.js";
import { loadRelayerKey } from "./chain/keystore.js";
import { createRelayerPublicClient, fetchChainId, ViemChain } from "./chain/viem-chain.js";
import { ConfigError, helpText, parseConfig, type RelayerConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { RelayerService } from "./service.js";
import { openStore } from "./store/open.js";

/**
 * Builds the relayer from its configuration: the chain id from the RPC, contract addresses
 * from the configuration or else the chain's deployment record, the key from the environment
 * or the keystore, the store from `DATABASE_URL` or the data directory. Then starts it.
 */
export async function startFromConfig(config: RelayerConfig, logger: Logger): Promise<RelayerService> {
  const chainId = await fetchChainId(config.rpcUrl);
  if (config.chainId !== undefined && config.chainId !== chainId) {
    throw new ConfigError(`the RPC serves chain ${chainId}, not the configured ${config.chainId}`);
  }
  if (config.relayerKey === undefined) {
    throw new ConfigError("the relayer needs a key: set RELAYER_PRIVATE_KEY or --keystore");
  }
  let recorded: Partial<Record<"Escrow" | "SettlementHub" | "PaymentChannels", { address: Address }>> = {};
  try {
    recorded = loadDeployment(chainId).contracts;
  } catch (error) {
    if (!(error instanceof SettlekitDeploymentNotFoundError)) throw error;
  }
  const hub = config.hubAddress ?? recorded.SettlementHub?.address;
  const escrow = config.escrowAddress ?? recorded.Escrow?.address;
  const channels = config.channelsAddress ?? recorded.PaymentChannels?.address;
  if (hub === undefined && escrow === undefined && channels === undefined) {
    throw new ConfigError(`no contract configured and no deployment record for chain ${chainId}`);
  }

  const publicClient = createRelayerPublicClient(config.rpcUrl, chainId);
  const chain = new ViemChain(publicClient, loadRelayerKey(config.relayerKey.reveal()));
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const service = new RelayerService({
    config,
    chainId,
    store,
    logger,
    ports: {
      chain,
      signing: clientSigning,
      verifier: clientVerifier(publicClient),
      hub: hub === undefined ? undefined : new ClientHubPort(hub, publicClient),
      escrow: escrow === undefined ? undefined : new ClientEscrowPort(escrow, publicClient),
      channels: channels === undefined ? undefined : new ClientChannelsPort(channels, publicClient),
    },
  });
  try {
    await service.start();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return service;
}

/** `settlekit-relayer [options]`: runs until SIGINT/SIGTERM, then shuts down gracefully. */
export async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(helpText());
    return 0;
  }
  let config: RelayerConfig;
  try {
    config = parseConfig(argv, env);
  } catch (error) {
    console.error((error as Error).message);
    console.error("Run with --help for the options.");
    return 2;
  }
  const logger = createLogger(config.logLevel);
  let service: RelayerService;
  try {
    service = await startFromConfig(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, "relayer failed to start");
    return 1;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, "signal received");
      service.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  });
  return 0;
}
