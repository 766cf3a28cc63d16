import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys `SettlementHub(owner, withdrawalDelay)`.
 * Parameters (all optional): `owner` defaults to the deployer, `withdrawalDelay` to 1 hour
 * (seconds). Keep the delay longer than the relayer's settlement time: that is what guarantees
 * an accepted intent settles.
 */
export default buildModule("SettlementHub", (m) => {
  const hub = m.contract("SettlementHub", [
    m.getParameter("owner", m.getAccount(0)),
    m.getParameter("withdrawalDelay", 60 * 60),
  ]);
  return { hub };
});
