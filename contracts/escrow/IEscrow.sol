// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IEscrow
/// @notice One contract holding many escrows. An escrow locks an amount of a token (or the native
/// currency) from a payer for a payee, with an optional arbiter and a deadline:
/// - the payer releases to the payee, in parts or at once, directly or gaslessly by signing a
///   cumulative total that anyone may submit ({releaseWithSig});
/// - the payee refunds the payer, in parts or at once;
/// - with an arbiter, either party may dispute before the deadline and the arbiter splits what
///   remains ({resolve});
/// - after the deadline (or, for a dispute, after the resolution timeout) anyone applies the
///   escrow's expiry action to what remains ({settleExpired}). No escrow can be stuck forever.
///
/// Payouts use "payout with fallback": when a recipient cannot receive (a reverting contract, a
/// token blocklist, a paused token) the amount is credited to its owed balance, pulled later with
/// {withdraw}. A hostile party can never block a refund, a resolution or anyone else's escrow.
///
/// A protocol fee in basis points, capped at {MAX_FEE_BPS}, is taken from everything paid to the
/// payee (release, signed release, resolution, an expiry that releases) and accrues to the fee
/// recipient's owed balance. The rate is fixed into each escrow when it is created.
///
/// Tokens: `token == address(0)` is the native currency. Fee-on-transfer tokens are credited what
/// actually arrived. Rebasing tokens (whose balances change without transfers, e.g. stETH, AMPL)
/// are NOT supported: the contract accounts in fixed amounts, so a negative rebase leaves the last
/// payouts short and a positive rebase leaves surplus locked. Wrap them first (e.g. wstETH).
/// Amounts are held in 128 bits; every real token supply fits.
interface IEscrow {
    // ------------------------------------------------------------------ types

    /// @notice What happens to the remainder of an escrow nobody settled in time.
    /// @dev RefundPayer: it goes back to the payer. ReleasePayee: it goes to the payee, less the fee.
    enum ExpiryAction {
        RefundPayer,
        ReleasePayee
    }

    /// @notice The life cycle of an escrow.
    /// @dev None: the id was never created. Active: funds remain, no dispute. Disputed: funds remain
    /// and a party raised a dispute. Closed: nothing remains (a terminal state).
    enum EscrowState {
        None,
        Active,
        Disputed,
        Closed
    }

    /// @notice The terms of a new escrow.
    /// @param payee Who receives released funds. Must not be zero, the payer or this contract.
    /// @param arbiter Who resolves disputes; `address(0)` means no disputes are possible. Must not
    /// be the payer or the payee.
    /// @param token The ERC-20 token, or `address(0)` for the native currency.
    /// @param amount The amount to lock (for the native currency, exactly `msg.value`).
    /// @param deadline Unix time after which the expiry action may be applied; must be in the future.
    /// @param onExpiry What happens to the remainder after the deadline.
    /// @param ref An opaque reference (an order or invoice id), emitted in {EscrowCreated} only.
    struct CreateParams {
        address payee;
        address arbiter;
        address token;
        uint256 amount;
        uint64 deadline;
        ExpiryAction onExpiry;
        bytes32 ref;
    }

    /// @notice Everything stored about one escrow, as returned by {getEscrow}.
    /// @param payer Who locked the funds (zero for an unknown id).
    /// @param payee Who receives released funds.
    /// @param arbiter Who resolves disputes (zero: none).
    /// @param token The token (zero: native currency).
    /// @param remaining What is still locked.
    /// @param released What has been paid out on the payee's side so far, fees included.
    /// @param deadline When the escrow expires.
    /// @param disputedAt When the dispute was raised (zero: never disputed).
    /// @param state The escrow's state; `Closed` once nothing remains.
    /// @param feeBps The protocol fee rate fixed at creation, in basis points.
    /// @param onExpiry The expiry action.
    struct EscrowView {
        address payer;
        address payee;
        address arbiter;
        address token;
        uint256 remaining;
        uint256 released;
        uint64 deadline;
        uint64 disputedAt;
        EscrowState state;
        uint16 feeBps;
        ExpiryAction onExpiry;
    }

    // ------------------------------------------------------------------ events

    /// @notice Escrow `id` was created and holds `amount` (what actually arrived) of `token`.
    /// @param id The new escrow's id (sequential from 1).
    /// @param payer Who locked the funds.
    /// @param payee Who receives released funds.
    /// @param arbiter The arbiter, or zero.
    /// @param token The token, or zero for the native currency.
    /// @param amount The amount locked (for a fee-on-transfer token, what arrived).
    /// @param deadline When the escrow expires.
    /// @param onExpiry The expiry action.
    /// @param feeBps The fee rate fixed into the escrow.
    /// @param ref The creator's reference.
    event EscrowCreated(
        uint256 indexed id,
        address indexed payer,
        address indexed payee,
        address arbiter,
        address token,
        uint256 amount,
        uint64 deadline,
        ExpiryAction onExpiry,
        uint16 feeBps,
        bytes32 ref
    );

    /// @notice `amount` of escrow `id` was released to the payee: the payee was paid `amount - fee`
    /// and `fee` accrued to the fee recipient. Emitted by {release} and {releaseWithSig}.
    /// @param id The escrow.
    /// @param amount The amount released, fee included.
    /// @param fee The protocol fee taken from it.
    event EscrowReleased(uint256 indexed id, uint256 amount, uint256 fee);

    /// @notice `amount` of escrow `id` was refunded to the payer by the payee.
    /// @param id The escrow.
    /// @param amount The amount refunded.
    event EscrowRefunded(uint256 indexed id, uint256 amount);

    /// @notice Escrow `id` was disputed by `by` (the payer or the payee).
    /// @param id The escrow.
    /// @param by Who raised the dispute.
    event EscrowDisputed(uint256 indexed id, address indexed by);

    /// @notice The arbiter resolved escrow `id`: `toPayee` went to the payee side (of which `fee`
    /// accrued to the fee recipient) and `toPayer` back to the payer.
    /// @param id The escrow.
    /// @param toPayee The payee's share, fee included.
    /// @param toPayer The payer's share.
    /// @param fee The protocol fee taken from the payee's share.
    event EscrowResolved(uint256 indexed id, uint256 toPayee, uint256 toPayer, uint256 fee);

    /// @notice The expiry action `action` was applied to escrow `id`, moving its remaining `amount`
    /// (to the payer, or to the payee with `fee` accruing to the fee recipient).
    /// @param id The escrow.
    /// @param action The expiry action applied.
    /// @param amount Everything that remained, fee included.
    /// @param fee The protocol fee (zero for a refund).
    event EscrowExpired(uint256 indexed id, ExpiryAction action, uint256 amount, uint256 fee);

    /// @notice The protocol fee rate for new escrows changed from `previousFeeBps` to `newFeeBps`.
    /// @param previousFeeBps The previous rate, in basis points.
    /// @param newFeeBps The new rate, in basis points.
    event FeeUpdated(uint16 previousFeeBps, uint16 newFeeBps);

    /// @notice The fee recipient changed. Fees already accrued stay owed to the previous one.
    /// @param previousRecipient The previous fee recipient (zero at deployment).
    /// @param newRecipient The new fee recipient.
    event FeeRecipientUpdated(address indexed previousRecipient, address indexed newRecipient);

    // ------------------------------------------------------------------ errors

    /// @notice The payee is zero, the payer itself or this contract.
    error EscrowInvalidPayee(address payee);

    /// @notice The arbiter is the payer or the payee.
    error EscrowInvalidArbiter(address arbiter);

    /// @notice An amount of zero was given, or nothing arrived from the token transfer.
    error EscrowZeroAmount();

    /// @notice `amount` does not fit in 128 bits.
    error EscrowAmountTooLarge(uint256 amount);

    /// @notice The escrow's deadline is not after the current block's time `timestamp`.
    error EscrowDeadlineNotInFuture(uint64 deadline, uint256 timestamp);

    /// @notice {createWithPermit} was called for the native currency, which has no permit.
    error EscrowPermitForNativeCurrency();

    /// @notice No escrow has id `id`.
    error EscrowNotFound(uint256 id);

    /// @notice Escrow `id` holds nothing any more.
    error EscrowClosed(uint256 id);

    /// @notice `caller` is not the payer of escrow `id`.
    error EscrowNotPayer(uint256 id, address caller);

    /// @notice `caller` is not the payee of escrow `id`.
    error EscrowNotPayee(uint256 id, address caller);

    /// @notice `caller` is neither the payer nor the payee of escrow `id`.
    error EscrowNotParty(uint256 id, address caller);

    /// @notice `caller` is not the arbiter of escrow `id`.
    error EscrowNotArbiter(uint256 id, address caller);

    /// @notice `amount` exceeds what escrow `id` still holds, `remaining`.
    error EscrowAmountExceedsRemaining(uint256 id, uint256 amount, uint256 remaining);

    /// @notice The release signature for escrow `id` expired at `sigDeadline`.
    error EscrowSignatureExpired(uint256 id, uint256 sigDeadline);

    /// @notice The signature is not the payer's (`payer`) for this escrow, total and deadline.
    error EscrowInvalidSignature(uint256 id, address payer);

    /// @notice The signed cumulative `releasedTotal` does not exceed what escrow `id` has already
    /// released, `released`: the signature would pay nothing.
    error EscrowNothingToRelease(uint256 id, uint256 releasedTotal, uint256 released);

    /// @notice Escrow `id` has no arbiter, so it cannot be disputed.
    error EscrowNoArbiter(uint256 id);

    /// @notice Escrow `id` is already disputed.
    error EscrowAlreadyDisputed(uint256 id);

    /// @notice Escrow `id` passed its deadline `deadline`: it can no longer be disputed.
    error EscrowDeadlinePassed(uint256 id, uint64 deadline);

    /// @notice Escrow `id` is not disputed, so there is nothing to resolve.
    error EscrowNotDisputed(uint256 id);

    /// @notice Escrow `id` cannot be settled on expiry before the time `settleableAfter` has passed.
    error EscrowNotExpired(uint256 id, uint256 settleableAfter);

    /// @notice The fee rate `feeBps` exceeds the cap `maxFeeBps`.
    error EscrowFeeTooHigh(uint16 feeBps, uint16 maxFeeBps);

    /// @notice The fee recipient must not be the zero address.
    error EscrowInvalidFeeRecipient(address recipient);

    /// @notice The resolution timeout must be at least one second and at most the cap `maxTimeout`.
    error EscrowInvalidResolutionTimeout(uint64 timeout, uint64 maxTimeout);

    // ------------------------------------------------------------------ escrow life cycle

    /// @notice Locks `p.amount` of `p.token` from the caller (the payer) for `p.payee`.
    /// @dev For an ERC-20 the caller must have approved this contract for `p.amount`; the escrow
    /// holds what actually arrived (fee-on-transfer tokens). Emits {EscrowCreated}.
    /// Requirements:
    /// - the contract is not paused;
    /// - `p.payee` is not zero, the caller or this contract; `p.arbiter` is not the caller or the payee;
    /// - `0 < p.amount <= type(uint128).max`, and something arrives;
    /// - `p.deadline` is after the current block's time;
    /// - native currency: `msg.value == p.amount`; ERC-20: `msg.value == 0` (else `PayoutsWrongValue`).
    /// @param p The escrow's terms.
    /// @return id The new escrow's id.
    function create(CreateParams calldata p) external payable returns (uint256 id);

    /// @notice {create} for an ERC-2612 token, approving this contract with the payer's permit in
    /// the same transaction.
    /// @dev The permit is attempted and its failure ignored, so the call still succeeds when
    /// someone front-ran the permit (the allowance is then already in place); without enough
    /// allowance the token's transfer reverts. Same requirements as {create}, and `p.token` must
    /// not be the native currency.
    /// @param p The escrow's terms.
    /// @param permitDeadline The permit's deadline.
    /// @param v The permit signature's `v`.
    /// @param r The permit signature's `r`.
    /// @param s The permit signature's `s`.
    /// @return id The new escrow's id.
    function createWithPermit(
        CreateParams calldata p,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 id);

    /// @notice Releases `amount` of escrow `id` to the payee (partial releases allowed), less the
    /// escrow's fee, which accrues to the fee recipient.
    /// @dev Allowed during a dispute and after the deadline (the payer only concedes). Emits
    /// {EscrowReleased}; a payee that cannot receive is credited an owed balance instead.
    /// Requirements:
    /// - the caller is the payer;
    /// - the escrow is not closed; `0 < amount <= remaining`.
    /// @param id The escrow.
    /// @param amount The amount to release, fee included.
    function release(uint256 id, uint256 amount) external;

    /// @notice Refunds `amount` of escrow `id` to the payer (partial refunds allowed). No fee.
    /// @dev Allowed during a dispute and after the deadline (the payee only concedes). Emits
    /// {EscrowRefunded}; a payer that cannot receive is credited an owed balance instead.
    /// Requirements:
    /// - the caller is the payee;
    /// - the escrow is not closed; `0 < amount <= remaining`.
    /// @param id The escrow.
    /// @param amount The amount to refund.
    function refund(uint256 id, uint256 amount) external;

    /// @notice Releases to the payee on the payer's EIP-712 signature of a cumulative total; anyone
    /// may submit it. Pays `min(releasedTotal - released, remaining)`, so a signature submitted
    /// twice, or after a later one, never pays twice.
    /// @dev Signed type: `Release(uint256 id,uint256 releasedTotal,uint256 deadline)` in the domain
    /// `settlekit Escrow`, version `1`, this chain and this contract ({releaseDigest}). EOA
    /// signatures (65 bytes, low `s` only: malleable signatures are rejected) and ERC-1271 wallets
    /// are accepted. Emits {EscrowReleased}.
    /// Requirements:
    /// - `block.timestamp <= sigDeadline`;
    /// - the escrow exists and is not closed;
    /// - `releasedTotal` exceeds what was already released;
    /// - `signature` is the payer's.
    /// @param id The escrow.
    /// @param releasedTotal The cumulative amount the payer authorises to have been released.
    /// @param sigDeadline The last second at which the signature is valid.
    /// @param signature The payer's signature (ECDSA `r ‖ s ‖ v`, or whatever its ERC-1271 wallet accepts).
    function releaseWithSig(uint256 id, uint256 releasedTotal, uint256 sigDeadline, bytes calldata signature) external;

    /// @notice Disputes escrow `id`, handing the decision to its arbiter. This freezes the expiry
    /// action until the resolution timeout has passed from now.
    /// @dev Emits {EscrowDisputed}.
    /// Requirements:
    /// - the caller is the payer or the payee;
    /// - the escrow has an arbiter, is not closed and not already disputed;
    /// - `block.timestamp <= deadline`.
    /// @param id The escrow.
    function dispute(uint256 id) external;

    /// @notice Resolves disputed escrow `id`: `toPayee` goes to the payee (less the escrow's fee)
    /// and the rest of what remains to the payer. Closes the escrow.
    /// @dev Possible until someone settles the escrow on expiry. Emits {EscrowResolved}.
    /// Requirements:
    /// - the caller is the arbiter;
    /// - the escrow is disputed and not closed; `toPayee <= remaining`.
    /// @param id The escrow.
    /// @param toPayee The part of what remains awarded to the payee, fee included.
    function resolve(uint256 id, uint256 toPayee) external;

    /// @notice Applies the expiry action to everything escrow `id` still holds; anyone may call.
    /// @dev Settleable once `block.timestamp > deadline`; for a disputed escrow once
    /// `block.timestamp > max(deadline, disputedAt + resolutionTimeout)`: a dispute only ever
    /// postpones expiry. Emits {EscrowExpired}.
    /// Requirements:
    /// - the escrow exists and is not closed;
    /// - that time has passed (else `EscrowNotExpired(id, settleableAfter)`).
    /// @param id The escrow.
    function settleExpired(uint256 id) external;

    /// @notice {settleExpired} for many escrows. Never reverts because of one id: unknown, closed,
    /// not yet expired and disputed-within-timeout ids are skipped.
    /// @dev Emits one {EscrowExpired} per escrow settled. An id listed twice settles once.
    /// @param ids The escrows to try.
    /// @return settled How many escrows were settled.
    function settleExpiredBatch(uint256[] calldata ids) external returns (uint256 settled);

    /// @notice Pays the caller everything owed to it in `token` (deferred payouts and accrued fees).
    /// @dev Emits `OwedWithdrawn(account, token, amount)`. Reverts with
    /// `PayoutsNothingOwed(account, token)` when nothing is owed, and when the transfer fails
    /// (the balance then stays owed).
    /// @param token The token, or `address(0)` for the native currency.
    /// @return amount The amount paid.
    function withdraw(address token) external returns (uint256 amount);

    // ------------------------------------------------------------------ administration

    /// @notice Sets the protocol fee rate for escrows created from now on; existing escrows keep
    /// theirs. Owner only. Emits {FeeUpdated}.
    /// @dev Reverts with `EscrowFeeTooHigh` above {MAX_FEE_BPS}.
    /// @param newFeeBps The new rate in basis points.
    function setFee(uint16 newFeeBps) external;

    /// @notice Sets who accrues future fees. Owner only. Emits {FeeRecipientUpdated}.
    /// @dev Reverts with `EscrowInvalidFeeRecipient` for the zero address.
    /// @param newRecipient The new fee recipient.
    function setFeeRecipient(address newRecipient) external;

    /// @notice Stops the creation of new escrows. Owner only. Every exit (release, refund, signed
    /// release, dispute, resolution, expiry, withdrawal) keeps working.
    function pause() external;

    /// @notice Allows the creation of new escrows again. Owner only.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice Everything stored about escrow `id`; all zero (state `None`) for an unknown id.
    /// @param id The escrow.
    /// @return escrow The escrow's parties, token, amounts, times, state, fee rate and expiry action.
    function getEscrow(uint256 id) external view returns (EscrowView memory escrow);

    /// @notice What escrow `id` still holds (zero for an unknown or closed id).
    /// @param id The escrow.
    /// @return The remaining amount.
    function remaining(uint256 id) external view returns (uint256);

    /// @notice The EIP-712 digest the payer signs for {releaseWithSig}.
    /// @param id The escrow.
    /// @param releasedTotal The cumulative released total.
    /// @param deadline The signature's deadline.
    /// @return The digest of `Release(id, releasedTotal, deadline)` in this contract's domain.
    function releaseDigest(uint256 id, uint256 releasedTotal, uint256 deadline) external view returns (bytes32);

    /// @notice What `account` can pull with {withdraw} in `token`.
    /// @param account The account.
    /// @param token The token, or `address(0)` for the native currency.
    /// @return The owed balance.
    function owed(address account, address token) external view returns (uint256);

    /// @notice The protocol fee rate, in basis points, for escrows created now.
    /// @return The rate.
    function feeBps() external view returns (uint16);

    /// @notice Who accrues protocol fees.
    /// @return The fee recipient.
    function feeRecipient() external view returns (address);

    /// @notice How long an arbiter has to resolve a dispute, in seconds, from the dispute.
    /// @return The timeout.
    function resolutionTimeout() external view returns (uint64);

    /// @notice The hard cap on the protocol fee rate: 500 basis points (5%).
    /// @return The cap.
    // solhint-disable-next-line func-name-mixedcase -- a constant, named as OpenZeppelin names them
    function MAX_FEE_BPS() external view returns (uint16);

    /// @notice The longest resolution timeout the constructor accepts: 365 days.
    /// @return The cap.
    // solhint-disable-next-line func-name-mixedcase -- a constant, named as OpenZeppelin names them
    function MAX_RESOLUTION_TIMEOUT() external view returns (uint64);
}
