// Compile-time expectations of the client's types, checked by `tsc` (`npm run lint`). Each
// `@ts-expect-error` line must be an error, or tsc fails on the unused directive. The function
// is never called: the test runner only loads this file.
import type { Address, Hex } from "viem";
import {
  type ChannelClient,
  type DeploymentDomain,
  type EscrowClient,
  escrowAbi,
  hashPayment,
  isContractError,
  type Payment,
  type SettlementClient,
  signVoucher,
} from "../../src/client/index.js";

export async function clientTypeExpectations(
  escrow: EscrowClient,
  hub: SettlementClient,
  channels: ChannelClient,
  domain: DeploymentDomain,
  payment: Payment,
  address: Address,
  signature: Hex,
  error: unknown,
): Promise<void> {
  // Reads return the contract's types.
  const remaining: bigint = await escrow.remaining([1n]);
  const view = await escrow.getEscrow([1n]);
  const viewed: [Address, bigint, number] = [view.payer, view.remaining, view.state];
  const used: boolean = await hub.nonceUsed([address, 0n]);
  const channel = await channels.getChannel([`0x${"00".repeat(32)}`]);
  const deposit: bigint = channel.deposit;
  // Functions without arguments take only the options.
  const paused: boolean = await hub.paused({ blockTag: "latest" });

  // @ts-expect-error unknown function name
  await escrow.releaseAll([1n]);
  // @ts-expect-error functions of another contract are not methods
  await escrow.settle([payment, signature]);
  // @ts-expect-error wrong argument type: a string for a uint256
  await escrow.release(["1", 2n]);
  // @ts-expect-error missing argument
  await escrow.release([1n]);
  // @ts-expect-error reads have no `…AndWait` variant
  await escrow.remainingAndWait([1n]);
  // @ts-expect-error a wrongly shaped struct argument
  await hub.settle([{ ...payment, nonce: "0" }, signature]);
  // @ts-expect-error option types are checked: `value` is a bigint
  await hub.deposit([address, 1n], { value: 1 });

  // `…AndWait` resolves to the function's own event, typed.
  const { event, receipt } = await escrow.createAndWait([
    { payee: address, arbiter: address, token: address, amount: 1n, deadline: 1n, onExpiry: 0, ref: signature },
  ]);
  const created: [bigint, Address, `0x${string}`] = [event.args.id, event.args.payer, receipt.transactionHash];
  // @ts-expect-error EscrowCreated has no `releasedTotal`
  event.args.releasedTotal;
  const requested = await hub.requestWithdrawalAndWait([address, 1n]);
  const requestedName: "WithdrawalRequested" | "WithdrawalCancelled" = requested.event.eventName;
  const batch = await hub.settleBatchAndWait([[payment], [signature]]);
  // @ts-expect-error a batch emits one event per intent: only `events`, no single `event`
  batch.event;
  const firstName: string | undefined = batch.events[0]?.eventName;

  // Typed events.
  hub.watchEvent.PaymentSettled(
    { digest: signature },
    { onLogs: (logs) => logs.map((log) => log.args.digest satisfies Hex | undefined) },
  );
  // @ts-expect-error unknown event name
  hub.watchEvent.PaymentRefunded({}, { onLogs: () => undefined });
  // @ts-expect-error wrong indexed argument type
  await escrow.getEvents.EscrowCreated({ id: "1" });

  // Typed errors.
  if (isContractError(error, escrowAbi, "EscrowNotPayer")) {
    const [id, caller]: readonly [bigint, Address] = error.args;
    void [id, caller];
  }
  if (channels.isError(error, "PaymentChannelsNothingToClaim")) {
    const [channelId, cumulativeAmount, claimed]: readonly [Hex, bigint, bigint] = error.args;
    void [channelId, cumulativeAmount, claimed];
  }
  // @ts-expect-error unknown error name
  isContractError(error, escrowAbi, "EscrowExploded");
  // @ts-expect-error errors of another contract
  hub.isError(error, "EscrowNotPayer");

  // Signing helpers take exactly their message.
  // @ts-expect-error a voucher is not a payment
  await channels.signVoucher(payment);
  // @ts-expect-error amounts are bigints
  hashPayment({ domain, payment: { ...payment, amount: 1 } });
  const voucher = { channelId: signature, cumulativeAmount: 1n };
  // @ts-expect-error the domain needs the verifying contract
  await signVoucher({ account: address, domain: { chainId: 1 }, voucher });

  void [remaining, viewed, used, deposit, paused, created, requestedName, firstName];
}
