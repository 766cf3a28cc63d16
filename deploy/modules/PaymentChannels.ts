import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys `PaymentChannels(owner, challengePeriod)`.
 * Parameters (all optional): `owner` defaults to the deployer, `challengePeriod` to 1 day
 * (seconds): the time a payee (or its watchtower) has to claim after the payer requests a close.
 */
export default buildModule("PaymentChannels", (m) => {
  const channels = m.contract("PaymentChannels", [
    m.getParameter("owner", m.getAccount(0)),
    m.getParameter("challengePeriod", 24 * 60 * 60),
  ]);
  return { channels };
});
