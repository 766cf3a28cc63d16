// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @title ISettlementHub
/// @notice Instant settlement of signed payment intents between hub accounts.
///
/// Accounts deposit native currency or ERC-20 tokens into the hub, then pay each other with
/// EIP-712 signed {Payment} intents. Anyone (in practice a relayer) submits intents with {settle}
/// or, in non-atomic batches, with {settleBatch}; each settled payment is an internal balance move
/// from `from` to `to`, and its `fee` is credited to the submitter. Accounts leave through
/// {requestWithdrawal} then {withdraw} once {withdrawalDelay} has passed; until then the requested
/// funds stay spendable by intents, so an intent a relayer accepted cannot be front-run by a
/// withdrawal of its payer (the guarantee that makes settlement instant for a merchant).
///
/// Conventions: `token == address(0)` is the chain's native currency. Balances are kept in at most
/// 128 bits: a credit that would take a balance above `type(uint128).max` is refused. Rebasing
/// tokens are unsupported; fee-on-transfer tokens are credited what actually arrived.
///
/// EIP-712 domain: name `settlekit SettlementHub`, version `1`, the chain id and this contract's
/// address ({IERC5267-eip712Domain}). Signed type:
/// `Payment(address from,address to,address token,uint256 amount,uint256 fee,uint256 nonce,uint64 validAfter,uint64 validBefore,bytes32 ref)`.
interface ISettlementHub is IERC5267 {
    // ------------------------------------------------------------------------------------ types

    /// @notice A payment intent, signed by `from` with EIP-712.
    /// @param from The paying account; the signer (an EOA, or an ERC-1271 contract wallet).
    /// @param to The paid account, credited `amount` inside the hub.
    /// @param token The token paid in; `address(0)` for native currency.
    /// @param amount The amount `to` receives.
    /// @param fee An extra amount taken from `from` and credited to whoever submits the intent
    /// (`msg.sender` of {settle} / {settleBatch}, normally the relayer). Anyone may submit.
    /// @param nonce Replay guard, unordered (Permit2-style bitmaps): the high 248 bits pick a
    /// 256-bit word, the low 8 bits a bit in it. Take nonces in order within one word: a payment
    /// whose payer's word is still untouched costs about 17,000 gas more.
    /// @param validAfter The intent settles only when `block.timestamp > validAfter`.
    /// @param validBefore The intent settles only when `block.timestamp < validBefore`
    /// (the same exclusive window as EIP-3009).
    /// @param ref Free-form reference (an invoice or order id); signed, never interpreted.
    struct Payment {
        address from;
        address to;
        address token;
        uint256 amount;
        uint256 fee;
        uint256 nonce;
        uint64 validAfter;
        uint64 validBefore;
        bytes32 ref;
    }

    /// @notice A pending withdrawal of one account in one token.
    /// @param amount The requested amount; {withdraw} pays `min(amount, balance)`. Zero: none pending.
    /// @param availableAt The timestamp from which {withdraw} may be called.
    struct WithdrawalRequest {
        uint128 amount;
        uint64 availableAt;
    }

    /// @notice Why an intent did not settle, as reported by {PaymentFailed} (and, for {settle}, by
    /// the matching custom error). The list is append-only: a value never changes meaning, new
    /// reasons are only ever added at the end, so relayers can act on the number.
    /// When several reasons apply, the first one in this order is reported (cheap stateless checks
    /// first, then the signature, then state).
    /// - `None` (0): not a failure; never emitted. Keeps the enum's zero value meaningless.
    /// - `InvalidRecipient` (1): `to` is `address(0)` or the hub itself, where funds would be lost.
    ///   Permanent: drop the intent.
    /// - `NotYetValid` (2): `block.timestamp <= validAfter`. Retry later.
    /// - `Expired` (3): `block.timestamp >= validBefore`. Permanent.
    /// - `BadSignature` (4): the signature is not `from`'s over this intent on this chain and hub
    ///   (wrong signer, other chain id or hub, altered field, malleable `s`, or an ERC-1271 wallet
    ///   that rejects it, e.g. after revoking). Permanent unless an ERC-1271 wallet changes its mind.
    /// - `NonceUsed` (5): `from` already used or invalidated this nonce (settled before, earlier in
    ///   the same batch, or cancelled with {invalidateNonces}). Permanent.
    /// - `InsufficientBalance` (6): `from`'s balance in `token` is below `amount + fee`.
    ///   May succeed after a deposit.
    /// - `BalanceTooLarge` (7): crediting `amount` would take `to`'s balance above
    ///   `type(uint128).max`. Only reachable with a token whose amounts exceed 128 bits.
    enum FailureReason {
        None,
        InvalidRecipient,
        NotYetValid,
        Expired,
        BadSignature,
        NonceUsed,
        InsufficientBalance,
        BalanceTooLarge
    }

    // ------------------------------------------------------------------------------------ events

    /// @notice `amount` of `token` was credited to `account`, paid in by `depositor`.
    /// @param account The credited account.
    /// @param token The token, `address(0)` for native currency.
    /// @param depositor Who paid it in (`account` itself for {deposit}).
    /// @param amount What arrived (less than requested for fee-on-transfer tokens).
    event Deposited(address indexed account, address indexed token, address indexed depositor, uint256 amount);

    /// @notice The intent with EIP-712 digest `digest` settled: `amount` moved from `from` to `to`
    /// and `fee` to the submitter.
    /// @dev Deliberately only the digest. The payment's fields are in the transaction's calldata
    /// (recompute the digest of each intent with {paymentDigest} or off-chain to match events to
    /// intents); logging them again would cost about 2,400 gas per payment in a batch, for data
    /// every observer already has. The digest is indexed so a relayer can look up one intent.
    /// @param digest The intent's EIP-712 digest ({paymentDigest}).
    event PaymentSettled(bytes32 indexed digest);

    /// @notice The intent with EIP-712 digest `digest` did not settle in {settleBatch}; nothing
    /// changed for it (its nonce stays unused).
    /// @param digest The intent's EIP-712 digest ({paymentDigest}).
    /// @param reason Why, see {FailureReason}.
    event PaymentFailed(bytes32 indexed digest, FailureReason reason);

    /// @notice `account` requested to withdraw `amount` of `token`, available from `availableAt`.
    /// Replaces any earlier request of the account in that token.
    event WithdrawalRequested(address indexed account, address indexed token, uint256 amount, uint64 availableAt);

    /// @notice `account` cancelled its pending withdrawal request in `token`.
    event WithdrawalCancelled(address indexed account, address indexed token);

    /// @notice `amount` of `token` was withdrawn from `account`'s balance and sent to `to`.
    event Withdrawn(address indexed account, address indexed token, address to, uint256 amount);

    // ------------------------------------------------------------------------------------ errors

    /// @notice The constructor's withdrawal delay exceeds the maximum `max`.
    error SettlementHubWithdrawalDelayTooLong(uint64 delay, uint64 max);

    /// @notice A deposit or withdrawal request of zero.
    error SettlementHubZeroAmount();

    /// @notice `amount` does not fit in 128 bits.
    error SettlementHubAmountTooLarge(uint256 amount);

    /// @notice Crediting `account` would take its `token` balance to `balance`, above
    /// `type(uint128).max`.
    error SettlementHubBalanceTooLarge(address account, address token, uint256 balance);

    /// @notice `recipient` cannot be credited or paid: it is `address(0)` or the hub itself.
    error SettlementHubInvalidRecipient(address recipient);

    /// @notice {settleBatch} got `payments` intents but `signatures` signatures.
    error SettlementHubLengthMismatch(uint256 payments, uint256 signatures);

    /// @notice The intent is not valid before `validAfter`; the block's timestamp is `timestamp`.
    error SettlementHubNotYetValid(uint64 validAfter, uint256 timestamp);

    /// @notice The intent expired at `validBefore`; the block's timestamp is `timestamp`.
    error SettlementHubExpired(uint64 validBefore, uint256 timestamp);

    /// @notice The signature is not `signer`'s over the intent with digest `digest`.
    error SettlementHubInvalidSignature(address signer, bytes32 digest);

    /// @notice `owner` already used or invalidated `nonce`.
    error SettlementHubNonceUsed(address owner, uint256 nonce);

    /// @notice `account` holds `balance` of `token`, less than `amount + fee`.
    error SettlementHubInsufficientBalance(
        address account,
        address token,
        uint256 balance,
        uint256 amount,
        uint256 fee
    );

    /// @notice `account` has no pending withdrawal request in `token`.
    error SettlementHubNoWithdrawalRequest(address account, address token);

    /// @notice `account`'s withdrawal request in `token` becomes available at `availableAt`.
    error SettlementHubWithdrawalNotReady(address account, address token, uint64 availableAt);

    // ------------------------------------------------------------------------------------ deposits

    /// @notice Deposits `amount` of `token` into the caller's hub balance.
    /// @dev Emits {Deposited} with the amount that arrived (fee-on-transfer tokens credit less).
    /// Requirements:
    /// - the hub is not paused;
    /// - `amount` is not zero and fits in 128 bits, and so does the resulting balance;
    /// - native (`token == address(0)`): `msg.value == amount`; ERC-20: `msg.value == 0` and the
    ///   hub is approved for `amount`.
    /// @param token The token, `address(0)` for native currency.
    /// @param amount The amount to pull from the caller (or sent as `msg.value`).
    function deposit(address token, uint256 amount) external payable;

    /// @notice Deposits `amount` of `token`, paid by the caller, into `account`'s hub balance.
    /// @dev Same as {deposit}, and `account` must not be `address(0)` or the hub itself.
    /// @param account The account credited.
    /// @param token The token, `address(0)` for native currency.
    /// @param amount The amount to pull from the caller (or sent as `msg.value`).
    function depositFor(address account, address token, uint256 amount) external payable;

    // ------------------------------------------------------------------------------------ settlement

    /// @notice Settles one intent, reverting with the reason's custom error if it cannot settle.
    /// @dev Moves `p.amount` of `p.token` from `p.from` to `p.to`, credits `p.fee` to the caller,
    /// marks the nonce used and emits {PaymentSettled}. Payments to oneself are allowed (only the
    /// fee moves). Signatures: ECDSA (65 bytes, low `s`) is tried first; only if that does not
    /// yield `p.from` is `p.from` asked through ERC-1271.
    /// Requirements (checked in this order; each failure reverts with the error named):
    /// - `p.to` is neither `address(0)` nor the hub ({SettlementHubInvalidRecipient});
    /// - `p.validAfter < block.timestamp < p.validBefore` ({SettlementHubNotYetValid},
    ///   {SettlementHubExpired});
    /// - `signature` is `p.from`'s over {paymentDigest}(p) ({SettlementHubInvalidSignature});
    /// - the nonce is unused ({SettlementHubNonceUsed});
    /// - `p.from` holds `p.amount + p.fee` ({SettlementHubInsufficientBalance});
    /// - the credits keep `p.to`'s and the caller's balances within 128 bits
    ///   ({SettlementHubBalanceTooLarge}).
    /// @param p The intent.
    /// @param signature `p.from`'s signature over {paymentDigest}(p).
    function settle(Payment calldata p, bytes calldata signature) external;

    /// @notice Settles a batch of intents without letting one bad intent revert the others.
    /// @dev Per intent, in order, emits {PaymentSettled} or {PaymentFailed} with the first
    /// failing {FailureReason} (the same checks as {settle}); a failed intent changes nothing.
    /// Intents are applied one after the other, so an intent reusing a nonce settled earlier in the
    /// batch fails with `NonceUsed`, and a payer's balance reflects the intents before it.
    /// Fees are summed and credited to the caller once per run of consecutive settled intents in
    /// the same token (once per batch when the batch is in one token, as relayers group them);
    /// the caller therefore cannot spend, within a batch, fees earned earlier in it.
    /// Caveat: an ERC-1271 payer's `isValidSignature` runs with the remaining gas; a wallet that
    /// burns it can make the whole transaction run out of gas. Relayers simulate batches and keep
    /// payers whose validation is expensive or environment-dependent out of them.
    /// Requirements:
    /// - `payments.length == signatures.length` ({SettlementHubLengthMismatch});
    /// - the caller's fee credit stays within 128 bits ({SettlementHubBalanceTooLarge}).
    /// @param payments The intents.
    /// @param signatures `signatures[i]` is `payments[i].from`'s signature.
    /// @return settled How many intents settled.
    function settleBatch(Payment[] calldata payments, bytes[] calldata signatures) external returns (uint256 settled);

    /// @notice Invalidates the caller's nonces whose bits are set in `mask`, in bitmap word
    /// `wordPos` (nonces `wordPos * 256` to `wordPos * 256 + 255`), so intents signed with them can
    /// never settle.
    /// @dev Emits `NoncesInvalidated(owner, wordPos, mask)` (from the `UnorderedNonces` library).
    /// @param wordPos The bitmap word: a nonce's high 248 bits.
    /// @param mask The nonces to invalidate within the word: bit `i` is nonce `wordPos * 256 + i`.
    function invalidateNonces(uint256 wordPos, uint256 mask) external;

    // ------------------------------------------------------------------------------------ withdrawals

    /// @notice Requests to withdraw `amount` of `token`, replacing any earlier request in that token
    /// and restarting the delay; `amount == 0` cancels the pending request.
    /// @dev The requested funds stay in the balance, spendable by intents, until {withdraw}. The
    /// request may exceed the balance: {withdraw} pays `min(requested, balance)`.
    /// Emits {WithdrawalRequested} (or {WithdrawalCancelled} for zero).
    /// Requirements:
    /// - `amount` fits in 128 bits ({SettlementHubAmountTooLarge});
    /// - cancelling needs a pending request ({SettlementHubNoWithdrawalRequest}).
    /// @param token The token, `address(0)` for native currency.
    /// @param amount The amount to withdraw later, or zero to cancel.
    function requestWithdrawal(address token, uint256 amount) external;

    /// @notice Completes the caller's pending withdrawal in `token`: sends `min(requested, balance)`
    /// to `to` and clears the request.
    /// @dev Emits {Withdrawn}. Reverts if `to` cannot receive (the caller chose it), leaving the
    /// request pending. With a zero balance the request is cleared and nothing is sent.
    /// Requirements:
    /// - a request is pending ({SettlementHubNoWithdrawalRequest});
    /// - `block.timestamp >= availableAt` ({SettlementHubWithdrawalNotReady});
    /// - `to` is neither `address(0)` nor the hub ({SettlementHubInvalidRecipient}).
    /// @param token The token, `address(0)` for native currency.
    /// @param to Where to send the funds.
    /// @return amount The amount sent.
    function withdraw(address token, address to) external returns (uint256 amount);

    // ------------------------------------------------------------------------------------ admin

    /// @notice Pauses deposits (new funds). Settlement and withdrawals are never paused.
    /// @dev Owner only. Emits `Paused`.
    function pause() external;

    /// @notice Resumes deposits. Owner only. Emits `Unpaused`.
    function unpause() external;

    // ------------------------------------------------------------------------------------ views

    /// @notice The hub balance of `account` in `token` (requested withdrawals included).
    function balanceOf(address account, address token) external view returns (uint256);

    /// @notice Whether `owner` has used or invalidated `nonce`.
    function nonceUsed(address owner, uint256 nonce) external view returns (bool);

    /// @notice The pending withdrawal request of `account` in `token` (zero amount: none).
    function getWithdrawalRequest(address account, address token) external view returns (WithdrawalRequest memory);

    /// @notice The delay, in seconds, between {requestWithdrawal} and {withdraw}; 0 = instant.
    function withdrawalDelay() external view returns (uint256);

    /// @notice The EIP-712 digest of `p` for this hub and chain: what `p.from` signs, and the key
    /// of {PaymentSettled} and {PaymentFailed}. Identical to viem's `hashTypedData` with the domain
    /// from {IERC5267-eip712Domain}.
    /// @param p The intent.
    /// @return The EIP-712 digest.
    function paymentDigest(Payment calldata p) external view returns (bytes32);
}
