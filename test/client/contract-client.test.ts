import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import {
  type Address,
  ChainMismatchError,
  createPublicClient,
  createWalletClient,
  custom,
  type EIP1193RequestFn,
  getAddress,
  type Hex,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  createChannelClient,
  createEscrowClient,
  createSettlementClient,
  SettlekitChainMismatchError,
} from "../../src/client/index.js";
import { type Connection, connect } from "./helpers.js";

const WITHDRAWAL_DELAY = 3_600n;
/** Chain id of the second network: a testnet the same deployer key also deployed to. */
const OTHER_CHAIN_ID = 11_155_111;
const KEY: Hex = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

/** A transport to `connection`'s node that records the method of every request made through it. */
function recording(connection: Connection, methods: string[]) {
  const request = ((args: { method: string; params?: unknown }) => {
    methods.push(args.method);
    return connection.provider.request(args as Parameters<Connection["provider"]["request"]>[0]);
  }) as EIP1193RequestFn;
  return custom({ request });
}

const SENT = ["eth_sendTransaction", "eth_sendRawTransaction", "wallet_sendTransaction"];

describe("contract clients", async () => {
  describe("the EIP-712 domain of a public client without a chain", () => {
    const address = getAddress(`0x${"42".repeat(20)}`);
    const factories = {
      createSettlementClient,
      createEscrowClient,
      createChannelClient,
    };
    for (const [name, factory] of Object.entries(factories)) {
      it(`${name}: asks for the chain id again after a failed eth_chainId, then keeps the answer`, async () => {
        let asked = 0;
        const request = (async ({ method }: { method: string }) => {
          if (method !== "eth_chainId") throw new Error(`unexpected ${method}`);
          asked += 1;
          if (asked === 1) throw new Error("node unreachable");
          return "0x7a69";
        }) as EIP1193RequestFn;
        const publicClient = createPublicClient({ transport: custom({ request }, { retryCount: 0 }) });
        const client = factory({ publicClient, address });
        await client.getDomain().then(
          () => expect.fail("resolved despite the failing eth_chainId"),
          (error: Error) => expect(error.message).to.include("node unreachable"),
        );
        // Asked again; concurrent callers share one request, whose answer is kept.
        const domains = await Promise.all([client.getDomain(), client.getDomain()]);
        expect(domains).to.deep.equal([
          { chainId: 31337, verifyingContract: address },
          { chainId: 31337, verifyingContract: address },
        ]);
        expect(await client.getDomain()).to.deep.equal({ chainId: 31337, verifyingContract: address });
        expect(asked).to.equal(2);
      });
    }
  });

  describe("writes go to the public client's chain only", async () => {
    // Two networks where the same deployer key deployed the hub: the same address on both.
    const home = await connect();
    const other = await network.create({ override: { chainId: OTHER_CHAIN_ID } });
    const otherPublic = await other.viem.getPublicClient();
    const [homeDeployer] = home.wallets;
    const [otherDeployer, otherJsonRpc] = await other.viem.getWalletClients();
    const deployer = getAddress(homeDeployer.account.address);
    const homeHub = await home.connection.viem.deployContract("SettlementHub", [deployer, WITHDRAWAL_DELAY], {
      client: { wallet: homeDeployer },
    });
    const otherHub = await other.viem.deployContract("SettlementHub", [deployer, WITHDRAWAL_DELAY], {
      client: { wallet: otherDeployer },
    });
    const address = getAddress(homeHub.address);
    const account = privateKeyToAccount(KEY);
    await home.connection.networkHelpers.setBalance(account.address, 10n ** 24n);
    await other.networkHelpers.setBalance(account.address, 10n ** 24n);

    /** The hub's balance of `owner` on the other chain, and how many transactions `owner` sent there. */
    async function otherChainState(owner: Address) {
      const [balance, sent] = await Promise.all([
        otherPublic.readContract({
          abi: otherHub.abi,
          address,
          functionName: "balanceOf",
          args: [owner, zeroAddress],
        }),
        otherPublic.getTransactionCount({ address: owner }),
      ]);
      return { balance, sent };
    }

    it("deploys the hub at the same address on both chains (the premise)", () => {
      expect(getAddress(otherHub.address)).to.equal(address);
      expect(home.chainId).to.not.equal(OTHER_CHAIN_ID);
      expect(otherPublic.chain.id).to.equal(OTHER_CHAIN_ID);
    });

    it("refuses a wallet client configured for another chain, sending nothing", async () => {
      const methods: string[] = [];
      const wallets = {
        local: createWalletClient({ account, chain: otherPublic.chain, transport: recording(other, methods) }),
        jsonRpc: createWalletClient({
          account: otherJsonRpc.account.address,
          chain: otherPublic.chain,
          transport: recording(other, methods),
        }),
      };
      for (const [kind, walletClient] of Object.entries(wallets)) {
        const owner = walletClient.account.address;
        const before = await otherChainState(owner);
        const hub = createSettlementClient({ publicClient: home.publicClient, walletClient, address });
        for (const attempt of [
          () => hub.deposit([zeroAddress, 1n], { value: 1n }),
          () => hub.depositAndWait([zeroAddress, 1n], { value: 1n, timeout: 2_000 }),
        ]) {
          const error = await attempt().then(
            () => expect.fail(`${kind}: wrote from a wallet on chain ${OTHER_CHAIN_ID}`),
            (e: unknown) => e,
          );
          expect(error, kind).to.be.instanceOf(SettlekitChainMismatchError);
          expect(error).to.include({
            name: "SettlekitChainMismatchError",
            functionName: "deposit",
            chainId: home.chainId,
            walletChainId: OTHER_CHAIN_ID,
          });
          expect((error as Error).message).to.include(`chain ${OTHER_CHAIN_ID}`);
        }
        expect(await otherChainState(owner), kind).to.deep.equal(before);
      }
      // Refused before any request: not even a simulation through the wallet's transport.
      expect(methods).to.deep.equal([]);
    });

    it("refuses a wallet without a chain whose node is on another chain, as the wallet reports it", async () => {
      const methods: string[] = [];
      const owner = otherJsonRpc.account.address;
      const walletClient = createWalletClient({ account: owner, transport: recording(other, methods) });
      const hub = createSettlementClient({ publicClient: home.publicClient, walletClient, address });
      const before = await otherChainState(owner);
      const error = await hub.deposit([zeroAddress, 1n], { value: 1n }).then(
        () => expect.fail(`wrote through a node of chain ${OTHER_CHAIN_ID}`),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(SettlekitChainMismatchError);
      expect(error).to.include({ functionName: "deposit", chainId: home.chainId, walletChainId: undefined });
      expect((error as Error).cause).to.be.instanceOf(Error);
      expect(
        ((error as Error).cause as { walk: (fn: (e: unknown) => boolean) => unknown }).walk(
          (e) => e instanceof ChainMismatchError,
        ),
      ).to.be.instanceOf(ChainMismatchError);
      expect(methods.filter((method) => SENT.includes(method))).to.deep.equal([]);
      expect(await otherChainState(owner)).to.deep.equal(before);
    });

    it("writes as before from a wallet on the public client's chain, without asking it for its chain id", async () => {
      const methods: string[] = [];
      const local = createWalletClient({
        account,
        chain: home.publicClient.chain,
        transport: recording(home.connection, methods),
      });
      const hub = createSettlementClient({ publicClient: home.publicClient, walletClient: local, address });
      const { event } = await hub.depositAndWait([zeroAddress, 5n], { value: 5n });
      expect(event.args).to.include({ account: account.address, amount: 5n });
      expect(methods).to.include("eth_sendRawTransaction");
      expect(methods).to.not.include("eth_chainId");
    });

    it("lets a JSON-RPC wallet created without a chain write on the public client's chain", async () => {
      const [, , jsonRpc] = home.wallets;
      const owner = getAddress(jsonRpc.account.address);
      const walletClient = createWalletClient({ account: owner, transport: recording(home.connection, []) });
      const hub = createSettlementClient({ publicClient: home.publicClient, walletClient, address });
      const { event } = await hub.depositAndWait([zeroAddress, 7n], { value: 7n });
      expect(event.args).to.include({ account: owner, amount: 7n });
    });
  });
});
