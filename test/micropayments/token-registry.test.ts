import { describe, it } from "node:test";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, numberToHex, pad, parseEther } from "viem";
import { deployChannels, salt } from "./helpers.js";

/**
 * Channels store their token as a 24-bit index into a registry filled on a token's first
 * channel. The registry refuses the 2^24-th token with a clear error instead of wrapping.
 */
describe("PaymentChannels: token registry", async () => {
  const { viem, networkHelpers } = await network.create();
  const publicClient = await viem.getPublicClient();
  const fixture = () => deployChannels(viem);

  /** The storage slot of the private token counter: the slot that reads 1 after the first token. */
  async function tokenCountSlot(channels: Address): Promise<bigint> {
    for (let slot = 0n; slot < 32n; slot++) {
      const value = await publicClient.getStorageAt({ address: channels, slot: numberToHex(slot, { size: 32 }) });
      if (value !== undefined && BigInt(value) === 1n) return slot;
    }
    throw new Error("token counter slot not found");
  }

  it("rejects a new token once 2^24 - 1 tokens are registered, and still serves registered ones", async () => {
    const { channels, token, payer, payee } = await networkHelpers.loadFixture(fixture);
    await channels.write.open([payee.account.address, token.address, payer.account.address, 100n, salt(1)], {
      account: payer.account,
    });
    const slot = await tokenCountSlot(channels.address);
    await networkHelpers.setStorageAt(channels.address, slot, pad(numberToHex(2 ** 24 - 1), { size: 32 }));

    const other = await viem.deployContract("TestToken", ["Other", "OTH", 18]);
    await other.write.mint([payer.account.address, parseEther("1")]);
    await other.write.approve([channels.address, parseEther("1")], { account: payer.account });
    await viem.assertions.revertWithCustomErrorWithArgs(
      channels.write.open([payee.account.address, other.address, payer.account.address, 100n, salt(2)], {
        account: payer.account,
      }),
      channels,
      "PaymentChannelsTooManyTokens",
      [other.address],
    );
    // A registered token keeps working.
    await channels.write.open([payee.account.address, token.address, payer.account.address, 100n, salt(3)], {
      account: payer.account,
    });
    expect(await token.read.balanceOf([channels.address])).to.equal(200n);
  });
});
