import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys `Escrow(owner, feeRecipient, feeBps, resolutionTimeout)`.
 * Parameters (all optional): `owner` and `feeRecipient` default to the deployer, `feeBps` to 0,
 * `resolutionTimeout` to 7 days (seconds).
 */
export default buildModule("Escrow", (m) => {
  const deployer = m.getAccount(0);
  const escrow = m.contract("Escrow", [
    m.getParameter("owner", deployer),
    m.getParameter("feeRecipient", deployer),
    m.getParameter("feeBps", 0),
    m.getParameter("resolutionTimeout", 7 * 24 * 60 * 60),
  ]);
  return { escrow };
});
