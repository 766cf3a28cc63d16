import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import EscrowModule from "./Escrow.js";
import PaymentChannelsModule from "./PaymentChannels.js";
import SettlementHubModule from "./SettlementHub.js";

/** Deploys all three settlekit contracts; each takes its parameters under its own module id. */
export default buildModule("Settlekit", (m) => {
  const { escrow } = m.useModule(EscrowModule);
  const { hub } = m.useModule(SettlementHubModule);
  const { channels } = m.useModule(PaymentChannelsModule);
  return { escrow, hub, channels };
});
