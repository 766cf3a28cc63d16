// settlekit's typed client library: the package entry (`import … from "settlekit"`), and the
// only barrel. Everything here runs in browsers too; Node-only pieces (native signature
// recovery, deployment records) are reached lazily and fall back or explain themselves.

export {
  type ChannelClient,
  type ChannelSigningHelpers,
  type CreateChannelClientParameters,
  type CreateChannelClientReturnType,
  createChannelClient,
} from "./contracts/channels.js";
export type {
  ContractClient,
  ContractClientBase,
  DecodedEvent,
  PrimaryEvents,
  ReadMethods,
  ReadOptions,
  SettlekitPublicClient,
  SettlekitWalletClient,
  WriteAndWaitMethods,
  WriteAndWaitOptions,
  WriteAndWaitReturnType,
  WriteMethods,
  WriteOptions,
} from "./contracts/contract-client.js";
export type { BoundSignOptions } from "./contracts/domain.js";
export {
  type CreateEscrowClientParameters,
  type CreateEscrowClientReturnType,
  createEscrowClient,
  type EscrowClient,
  type EscrowSigningHelpers,
} from "./contracts/escrow.js";
export {
  type CreateSettlementClientParameters,
  type CreateSettlementClientReturnType,
  createSettlementClient,
  type SettlementClient,
  type SettlementSigningHelpers,
} from "./contracts/settlement.js";
export {
  type Deployment,
  type LoadDeploymentOptions,
  type LoadDeploymentReturnType,
  loadDeployment,
  type SettlekitContractName,
} from "./deployments.js";
export {
  type ContractErrorOf,
  type DecodeContractErrorParameters,
  type DecodeContractErrorReturnType,
  decodeContractError,
  isContractError,
  SettlekitChainMismatchError,
  SettlekitContractError,
  SettlekitDeploymentNotFoundError,
  SettlekitError,
  type SettlekitErrorArgs,
  type SettlekitErrorName,
  SettlekitInvalidInputError,
  SettlekitMissingWalletClientError,
  SettlekitTransactionError,
} from "./errors.js";
export { escrowAbi, paymentChannelsAbi, settlementHubAbi } from "./generated/abis.js";
export {
  type CreateRelayerClientParameters,
  type CreateRelayerClientReturnType,
  createRelayerClient,
  type HealthResponse,
  type PaymentStatusResponse,
  type RelayerClient,
  RelayerRequestError,
  type ReleaseStatusResponse,
  type StatusResponse,
  type SubmitPaymentResponse,
  type SubmitPaymentsResponse,
  type VoucherResponse,
  type WaitForPaymentParameters,
} from "./relayer.js";
export {
  type ChannelIdOfParameters,
  type ChannelIdOfReturnType,
  channelIdOf,
} from "./signing/channel-id.js";
export {
  type HashPaymentParameters,
  type HashPaymentReturnType,
  type HashReleaseParameters,
  type HashReleaseReturnType,
  type HashVoucherParameters,
  type HashVoucherReturnType,
  hashPayment,
  hashRelease,
  hashVoucher,
} from "./signing/digest.js";
export {
  type CreateNonceManagerParameters,
  type CreateNonceManagerReturnType,
  createNonceManager,
  type NonceManager,
  type NonceSource,
} from "./signing/nonces.js";
export {
  defaultRecoveryBackend,
  type RecoverDigestSignerOptions,
  type RecoverDigestSignerReturnType,
  type RecoveryBackend,
  recoverDigestSigner,
} from "./signing/recover.js";
export {
  type SignerParameters,
  type SignPaymentParameters,
  type SignPaymentReturnType,
  type SignReleaseParameters,
  type SignReleaseReturnType,
  type SignVoucherParameters,
  type SignVoucherReturnType,
  signPayment,
  signRelease,
  signVoucher,
} from "./signing/sign.js";
export {
  type DeploymentDomain,
  DOMAIN_VERSION,
  ESCROW_DOMAIN_NAME,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  type Payment,
  type Release,
  SETTLEMENT_HUB_DOMAIN_NAME,
  settlekitTypes,
  type Voucher,
} from "./signing/types.js";
export {
  type VerifyPaymentParameters,
  type VerifyPaymentReturnType,
  type VerifyReleaseParameters,
  type VerifyReleaseReturnType,
  type VerifyVoucherParameters,
  type VerifyVoucherReturnType,
  verifyPayment,
  verifyRelease,
  verifyVoucher,
} from "./signing/verify.js";
