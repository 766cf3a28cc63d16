// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IPaymentChannels
/// @notice Unidirectional micropayment channels. A payer locks a deposit for one payee and pays
/// off-chain by signing vouchers with a growing cumulative amount
/// (EIP-712 `Voucher(bytes32 channelId,uint256 cumulativeAmount)`, domain
/// `settlekit PaymentChannels`, version `1`). Only the latest voucher ever needs to go on-chain:
/// a claim pays the payee the difference between the voucher's cumulative amount and what was
/// already claimed, so thousands of payments cost one claim and every older voucher becomes
/// worthless.
///
/// Life of a channel: {open} → any number of {topUp} and {claim} → either {close} by the payee
/// (claims and refunds the rest to the payer at once) or {requestClose} by the payer, a challenge
/// period during which the payee can still claim, then {finalizeClose} by anyone (refunds the
/// rest). A closed channel id can never be opened again, so old vouchers stay worthless.
///
/// `token == address(0)` is the chain's native currency. Every payout uses payout with fallback:
/// when the recipient cannot receive (reverting contract, token blocklist, paused token) the
/// amount is credited to {owed} and pulled later with {withdraw}. Fee-on-transfer tokens are
/// credited what actually arrived; rebasing tokens are unsupported.
interface IPaymentChannels {
    // ------------------------------------------------------------------ types

    /// @notice Where a channel is in its life.
    /// @dev `None`: the id was never opened. `Open`: vouchers can be claimed, the payer can top up
    /// and request a close. `Closing`: the payer requested a close; the payee can still claim and
    /// close, the payer can cancel by topping up, and anyone can finalize once the challenge period
    /// has passed. `Closed`: settled for good; the id can never be opened again.
    enum ChannelStatus {
        None,
        Open,
        Closing,
        Closed
    }

    /// @notice Why {claimBatch} skipped a claim (reported in {ChannelClaimFailed}).
    /// @dev `ChannelNotOpen`: the channel does not exist or is closed. `AmountNotAboveClaimed`: the
    /// cumulative amount is not above what was already claimed (a stale or replayed voucher).
    /// `AmountExceedsDeposit`: the cumulative amount is above the deposit (the payee keeps the
    /// voucher until a top-up). `InvalidSignature`: the voucher is not signed by the channel's signer.
    enum ClaimFailureReason {
        ChannelNotOpen,
        AmountNotAboveClaimed,
        AmountExceedsDeposit,
        InvalidSignature
    }

    /// @notice One voucher to claim in {claimBatch}.
    /// @param channelId The channel the voucher is for.
    /// @param cumulativeAmount The total the payer owes the payee on this channel so far.
    /// @param signature The channel signer's EIP-712 signature of the voucher (65-byte ECDSA, or
    /// anything the signer's ERC-1271 `isValidSignature` accepts).
    struct Claim {
        bytes32 channelId;
        uint256 cumulativeAmount;
        bytes signature;
    }

    /// @notice Full view of one channel, as returned by {getChannel}.
    /// @param payer Who opened the channel, funds it and receives the rest at close.
    /// @param payee Who receives every claimed amount.
    /// @param token The token of the deposit; `address(0)` for native currency.
    /// @param signer Whose signature makes a voucher valid: the payer or a delegated session key.
    /// @param deposit Everything paid into the channel (open plus top-ups, as received).
    /// @param claimed Everything paid out to the payee so far (the highest claimed cumulative amount).
    /// @param closeRequestedAt When the payer requested a close (unix seconds); 0 when none is pending.
    /// @param status Where the channel is in its life.
    struct Channel {
        address payer;
        address payee;
        address token;
        address signer;
        uint256 deposit;
        uint256 claimed;
        uint64 closeRequestedAt;
        ChannelStatus status;
    }

    // ------------------------------------------------------------------ events

    /// @notice A channel was opened and funded.
    /// @param channelId `keccak256(abi.encode(payer, payee, token, salt))`.
    /// @param payer The account that opened the channel.
    /// @param payee The account that will receive claims.
    /// @param token The deposit's token; `address(0)` for native currency.
    /// @param signer The voucher signer (the payer unless a session key was delegated).
    /// @param deposit The amount that arrived (less than requested for fee-on-transfer tokens).
    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address signer,
        uint256 deposit
    );

    /// @notice The payer added `amount` (as received) to the channel; its deposit is now `deposit`.
    event ChannelToppedUp(bytes32 indexed channelId, uint256 amount, uint256 deposit);

    /// @notice A voucher for `cumulativeAmount` was claimed through {claim} or {claimBatch} and `amount`
    /// (the increase) paid to the payee. A {close} reports its final claim in {ChannelClosed} instead.
    event ChannelClaimed(bytes32 indexed channelId, uint256 cumulativeAmount, uint256 amount);

    /// @notice {claimBatch} skipped the claim for `channelId` because of `reason`; nothing changed.
    event ChannelClaimFailed(bytes32 indexed channelId, ClaimFailureReason reason);

    /// @notice The payer requested a close; anyone can finalize it from `closesAt` (unix seconds) on.
    event ChannelCloseRequested(bytes32 indexed channelId, uint256 closesAt);

    /// @notice A top-up cancelled the pending close request; the channel is open again.
    event ChannelCloseCancelled(bytes32 indexed channelId);

    /// @notice The channel was settled for good: the payee received `claimed` in total and the payer
    /// was refunded `refunded` now; `claimed + refunded` is the whole deposit.
    event ChannelClosed(bytes32 indexed channelId, uint256 claimed, uint256 refunded);

    // ------------------------------------------------------------------ errors

    /// @notice The constructor was given a challenge period of zero, which would let a payer close
    /// before the payee could claim.
    error PaymentChannelsInvalidChallengePeriod(uint64 challengePeriod);

    /// @notice The payee is the zero address or this contract.
    error PaymentChannelsInvalidPayee(address payee);

    /// @notice An amount of zero was deposited.
    error PaymentChannelsZeroAmount();

    /// @notice A deposit would not fit in 128 bits.
    error PaymentChannelsAmountTooLarge(uint256 amount);

    /// @notice The channel id is already in use (`status` Open, Closing or Closed): an open id cannot
    /// be opened twice and a closed id can never be opened again.
    error PaymentChannelsChannelExists(bytes32 channelId, ChannelStatus status);

    /// @notice The channel does not exist (`status` None) or is closed (`status` Closed).
    error PaymentChannelsChannelNotOpen(bytes32 channelId, ChannelStatus status);

    /// @notice Only the channel's payer may do this.
    error PaymentChannelsNotPayer(bytes32 channelId, address caller);

    /// @notice Only the channel's payee may do this.
    error PaymentChannelsNotPayee(bytes32 channelId, address caller);

    /// @notice A claim's cumulative amount is not above what was already claimed: nothing to pay.
    error PaymentChannelsNothingToClaim(bytes32 channelId, uint256 cumulativeAmount, uint256 claimed);

    /// @notice A close's cumulative amount is below what was already claimed.
    error PaymentChannelsAmountBelowClaimed(bytes32 channelId, uint256 cumulativeAmount, uint256 claimed);

    /// @notice A voucher's cumulative amount is above the channel's deposit; it is rejected whole,
    /// never partially paid, and stays good after a top-up.
    error PaymentChannelsAmountExceedsDeposit(bytes32 channelId, uint256 cumulativeAmount, uint256 deposit);

    /// @notice The voucher is not signed by the channel's `signer` for this channel, contract and chain.
    error PaymentChannelsInvalidSignature(bytes32 channelId, address signer);

    /// @notice A close was already requested at `closeRequestedAt`.
    error PaymentChannelsCloseAlreadyRequested(bytes32 channelId, uint256 closeRequestedAt);

    /// @notice {finalizeClose} on an open channel whose payer has not requested a close.
    error PaymentChannelsCloseNotRequested(bytes32 channelId);

    /// @notice `token` would be the 2^24-th distinct token: the registry that packs token indexes
    /// into 24 bits is full (no realistic deployment gets near it).
    error PaymentChannelsTooManyTokens(address token);

    /// @notice The challenge period is still running; the close can be finalized from `closesAt` on.
    error PaymentChannelsChallengePeriodActive(bytes32 channelId, uint256 closesAt);

    // ------------------------------------------------------------------ payer

    /// @notice Opens a channel from the caller (the payer) to `payee` and funds it with `amount`.
    /// @dev The channel id is `keccak256(abi.encode(msg.sender, payee, token, salt))` (see
    /// {channelIdOf}), so a client knows it before the transaction. The deposit is what actually
    /// arrived (fee-on-transfer safe).
    ///
    /// Requirements:
    /// - the contract is not paused;
    /// - `payee` is neither the zero address nor this contract;
    /// - `amount` is not zero, and what arrives fits in 128 bits;
    /// - the id was never used (open or closed);
    /// - native: `msg.value == amount`; ERC-20: `msg.value == 0` and `amount` approved to this contract.
    /// @param payee The account that will receive claims.
    /// @param token The token to deposit; `address(0)` for native currency.
    /// @param signer Who signs vouchers: a delegated session key, or `address(0)` (or the payer) for the payer.
    /// @param amount The amount to deposit.
    /// @param salt Any value that makes the id unique among the payer's channels to this payee in this token.
    /// @return channelId The new channel's id.
    function open(
        address payee,
        address token,
        address signer,
        uint256 amount,
        bytes32 salt
    ) external payable returns (bytes32 channelId);

    /// @notice Adds `amount` to an open channel's deposit, and cancels a pending close request.
    /// @dev The deposit grows by what actually arrived (fee-on-transfer safe). Never paused.
    ///
    /// Requirements:
    /// - the channel is Open or Closing, and the caller is its payer;
    /// - `amount` is not zero, and the new deposit fits in 128 bits;
    /// - native: `msg.value == amount`; ERC-20: `msg.value == 0` and `amount` approved.
    /// @param channelId The channel to fund.
    /// @param amount The amount to add.
    function topUp(bytes32 channelId, uint256 amount) external payable;

    /// @notice Starts the challenge period: from `block.timestamp + challengePeriod()` on, anyone
    /// can {finalizeClose} and refund the rest to the payer. Until then the payee can still claim.
    ///
    /// Requirements:
    /// - the channel is Open (not already Closing, not Closed), and the caller is its payer.
    /// @param channelId The channel to close.
    function requestClose(bytes32 channelId) external;

    // ------------------------------------------------------------------ payee and watchers

    /// @notice Claims a voucher: pays the payee `cumulativeAmount - claimed` and records
    /// `cumulativeAmount` as claimed, which makes every voucher up to it worthless.
    /// @dev Anyone may submit (a relayer acting as watchtower); the funds always go to the payee,
    /// pushed or, when the payee cannot receive, credited to its {owed} balance. Allowed while a
    /// close is requested, until the close is finalized.
    ///
    /// Requirements:
    /// - the channel is Open or Closing;
    /// - `cumulativeAmount` is above the claimed amount and at most the deposit (never partially paid);
    /// - `signature` is the channel signer's EIP-712 signature of
    ///   `Voucher(channelId, cumulativeAmount)` for this contract and chain (ECDSA with low `s`, or ERC-1271).
    /// @param channelId The channel to claim from.
    /// @param cumulativeAmount The voucher's cumulative amount.
    /// @param signature The voucher's signature.
    function claim(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external;

    /// @notice Claims many vouchers in one transaction, skipping the ones that fail.
    /// @dev Each claim behaves as {claim}; a failing one changes nothing and emits
    /// {ChannelClaimFailed} with its reason instead of reverting. Consecutive claims paying the same
    /// payee in the same token are paid out in one transfer, so ordering claims by payee and token
    /// saves gas. An ERC-1271 signer runs arbitrary code in `isValidSignature`: simulate a batch
    /// before sending it.
    /// @param claims The vouchers to claim.
    /// @return claimed How many claims succeeded.
    function claimBatch(Claim[] calldata claims) external returns (uint256 claimed);

    /// @notice The payee's close: claims a final voucher and refunds the rest of the deposit to the
    /// payer at once. Both payouts use payout with fallback.
    /// Emits only {ChannelClosed}, whose `claimed` is `cumulativeAmount` (the payee received
    /// `cumulativeAmount` minus the amount claimed before).
    /// @dev With `cumulativeAmount` equal to the claimed amount nothing more is claimed and
    /// `signature` is not checked (it may be empty): the payee closes with what it already has and
    /// can never take more than a signed voucher allows.
    ///
    /// Requirements:
    /// - the channel is Open or Closing, and the caller is its payee;
    /// - `cumulativeAmount` is at least the claimed amount and at most the deposit;
    /// - when above the claimed amount, `signature` is valid as for {claim}.
    /// @param channelId The channel to close.
    /// @param cumulativeAmount The final voucher's cumulative amount (or the claimed amount).
    /// @param signature The final voucher's signature (ignored when nothing more is claimed).
    function close(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external;

    /// @notice Ends a requested close once the challenge period has passed: refunds
    /// `deposit - claimed` to the payer (payout with fallback) and closes the channel for good.
    /// @dev Anyone may call it (a relayer acting for the payer).
    ///
    /// Requirements:
    /// - the channel is Closing (the payer requested a close that no top-up cancelled);
    /// - `block.timestamp >= closeRequestedAt + challengePeriod()`.
    /// @param channelId The channel to finalize.
    function finalizeClose(bytes32 channelId) external;

    /// @notice Pays the caller its whole owed balance of `token` (payouts that could not be pushed).
    /// @dev Never paused. Reverts with `PayoutsNothingOwed` when nothing is owed, and reverts when the
    /// transfer fails (the balance then stays owed).
    /// @param token The token to withdraw; `address(0)` for native currency.
    /// @return amount The amount paid.
    function withdraw(address token) external returns (uint256 amount);

    // ------------------------------------------------------------------ admin

    /// @notice Stops {open}; nothing else is ever paused. Owner only.
    function pause() external;

    /// @notice Allows {open} again. Owner only.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice The id a channel opened by `payer` to `payee` in `token` with `salt` has (or will have).
    /// @return The channel id, `keccak256(abi.encode(payer, payee, token, salt))`.
    function channelIdOf(address payer, address payee, address token, bytes32 salt) external pure returns (bytes32);

    /// @notice The full state of a channel; all zero (status None) for an id never opened.
    /// @param channelId The channel to read.
    /// @return The channel.
    function getChannel(bytes32 channelId) external view returns (Channel memory);

    /// @notice The EIP-712 digest the channel signer signs for a voucher, for off-chain parity checks.
    /// @param channelId The channel the voucher is for.
    /// @param cumulativeAmount The voucher's cumulative amount.
    /// @return The digest of `Voucher(channelId, cumulativeAmount)` in this contract's domain.
    function voucherDigest(bytes32 channelId, uint256 cumulativeAmount) external view returns (bytes32);

    /// @notice How long after {requestClose} the payee can still claim before anyone may finalize (seconds).
    /// @return The challenge period, fixed at deployment.
    function challengePeriod() external view returns (uint256);

    /// @notice What `account` can pull with {withdraw} in `token` (payouts that could not be pushed).
    /// @param account The recipient.
    /// @param token The token; `address(0)` for native currency.
    /// @return The owed balance.
    function owed(address account, address token) external view returns (uint256);
}
