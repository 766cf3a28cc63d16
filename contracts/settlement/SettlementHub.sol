// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {Payouts} from "../libraries/Payouts.sol";
import {UnorderedNonces} from "../libraries/UnorderedNonces.sol";
import {ISettlementHub} from "./ISettlementHub.sol";

/// @title SettlementHub
/// @notice Instant settlement of signed payment intents between hub accounts. See {ISettlementHub}.
contract SettlementHub is ISettlementHub, EIP712, Ownable2Step, Pausable, ReentrancyGuardTransient {
    using UnorderedNonces for mapping(address => mapping(uint256 => uint256));

    /// @notice The longest withdrawal delay a hub can be deployed with (30 days): bounds how long
    /// an account's funds can be held back from leaving.
    uint64 public constant MAX_WITHDRAWAL_DELAY = 30 days;

    /// @dev keccak256 of the EIP-712 `Payment` type (DESIGN §4, binding).
    bytes32 private constant _PAYMENT_TYPEHASH = keccak256(
        "Payment(address from,address to,address token,uint256 amount,uint256 fee,uint256 nonce,uint64 validAfter,uint64 validBefore,bytes32 ref)"
    );

    /// @dev Every stored balance and request fits in 128 bits.
    uint256 private constant _MAX_AMOUNT = type(uint128).max;

    uint64 private immutable _withdrawalDelay;

    /// @dev Keyed by token first: a batch in one token computes the token's inner slot once per
    /// intent for both the payer and the payee.
    mapping(address token => mapping(address account => uint256)) private _balances;

    mapping(address owner => mapping(uint256 wordPos => uint256)) private _nonceBitmaps;

    mapping(address account => mapping(address token => WithdrawalRequest)) private _withdrawals;

    /// @param initialOwner The administrator (a multisig): may pause and unpause deposits, nothing else.
    /// @param withdrawalDelay_ Seconds between {requestWithdrawal} and {withdraw}; 0 = instant; at
    /// most {MAX_WITHDRAWAL_DELAY}.
    constructor(
        address initialOwner,
        uint64 withdrawalDelay_
    ) EIP712("settlekit SettlementHub", "1") Ownable(initialOwner) {
        if (withdrawalDelay_ > MAX_WITHDRAWAL_DELAY) {
            revert SettlementHubWithdrawalDelayTooLong(withdrawalDelay_, MAX_WITHDRAWAL_DELAY);
        }
        _withdrawalDelay = withdrawalDelay_;
    }

    // ------------------------------------------------------------------------------------ deposits

    /// @inheritdoc ISettlementHub
    function deposit(address token, uint256 amount) external payable nonReentrant whenNotPaused {
        _deposit(msg.sender, token, amount);
    }

    /// @inheritdoc ISettlementHub
    function depositFor(address account, address token, uint256 amount) external payable nonReentrant whenNotPaused {
        if (account == address(0) || account == address(this)) revert SettlementHubInvalidRecipient(account);
        _deposit(account, token, amount);
    }

    // ------------------------------------------------------------------------------------ settlement

    /// @inheritdoc ISettlementHub
    function settle(Payment calldata p, bytes calldata signature) external nonReentrant {
        bytes32 digest = _hashPayment(p, _domainSeparatorV4());
        FailureReason reason = _execute(p, digest, signature);
        if (reason != FailureReason.None) _revertFor(reason, p, digest);
        _creditFees(p.token, p.fee);
        emit PaymentSettled(digest);
    }

    /// @inheritdoc ISettlementHub
    function settleBatch(
        Payment[] calldata payments,
        bytes[] calldata signatures
    ) external nonReentrant returns (uint256 settled) {
        uint256 count = payments.length;
        if (count != signatures.length) revert SettlementHubLengthMismatch(count, signatures.length);
        // Fees of consecutive settled intents in one token are summed and credited once.
        address feeToken = address(0);
        uint256 fees = 0;
        bytes32 domainSeparator = _domainSeparatorV4();
        for (uint256 i; i < count; ++i) {
            Payment calldata p = payments[i];
            bytes32 digest = _hashPayment(p, domainSeparator);
            FailureReason reason = _execute(p, digest, signatures[i]);
            if (reason != FailureReason.None) {
                emit PaymentFailed(digest, reason);
                continue;
            }
            emit PaymentSettled(digest);
            uint256 fee = p.fee;
            unchecked {
                ++settled;
                if (fee != 0) {
                    address token = p.token;
                    if (token != feeToken) {
                        _creditFees(feeToken, fees);
                        feeToken = token;
                        fees = 0;
                    }
                    // Each fee was covered by a balance below 2^128: the sum cannot overflow.
                    fees += fee;
                }
            }
        }
        _creditFees(feeToken, fees);
    }

    /// @inheritdoc ISettlementHub
    function invalidateNonces(uint256 wordPos, uint256 mask) external nonReentrant {
        _nonceBitmaps.invalidate(msg.sender, wordPos, mask);
    }

    // ------------------------------------------------------------------------------------ withdrawals

    /// @inheritdoc ISettlementHub
    function requestWithdrawal(address token, uint256 amount) external nonReentrant {
        if (amount > _MAX_AMOUNT) revert SettlementHubAmountTooLarge(amount);
        if (amount == 0) {
            if (_withdrawals[msg.sender][token].amount == 0) revert SettlementHubNoWithdrawalRequest(msg.sender, token);
            delete _withdrawals[msg.sender][token];
            emit WithdrawalCancelled(msg.sender, token);
            return;
        }
        // The delay is at most 30 days: the sum fits in 64 bits for billions of years.
        uint64 availableAt = uint64(block.timestamp) + _withdrawalDelay;
        _withdrawals[msg.sender][token] = WithdrawalRequest({amount: uint128(amount), availableAt: availableAt});
        emit WithdrawalRequested(msg.sender, token, amount, availableAt);
    }

    /// @inheritdoc ISettlementHub
    function withdraw(address token, address to) external nonReentrant returns (uint256 amount) {
        WithdrawalRequest memory request = _withdrawals[msg.sender][token];
        if (request.amount == 0) revert SettlementHubNoWithdrawalRequest(msg.sender, token);
        if (block.timestamp < request.availableAt) {
            revert SettlementHubWithdrawalNotReady(msg.sender, token, request.availableAt);
        }
        if (to == address(0) || to == address(this)) revert SettlementHubInvalidRecipient(to);
        uint256 balance = _balances[token][msg.sender];
        amount = request.amount < balance ? request.amount : balance;
        delete _withdrawals[msg.sender][token];
        _balances[token][msg.sender] = balance - amount;
        emit Withdrawn(msg.sender, token, to, amount);
        // The caller chose `to`: if it cannot receive, the whole withdrawal reverts and the request
        // stays pending (DESIGN §4), rather than deferring the payout.
        if (amount != 0) Payouts.sendOrRevert(token, to, amount);
    }

    // ------------------------------------------------------------------------------------ admin

    /// @inheritdoc ISettlementHub
    function pause() external nonReentrant onlyOwner {
        _pause();
    }

    /// @inheritdoc ISettlementHub
    function unpause() external nonReentrant onlyOwner {
        _unpause();
    }

    // ------------------------------------------------------------------------------------ views

    /// @inheritdoc ISettlementHub
    function balanceOf(address account, address token) external view returns (uint256) {
        return _balances[token][account];
    }

    /// @inheritdoc ISettlementHub
    function nonceUsed(address owner, uint256 nonce) external view returns (bool) {
        return _nonceBitmaps.isUsed(owner, nonce);
    }

    /// @inheritdoc ISettlementHub
    function getWithdrawalRequest(address account, address token) external view returns (WithdrawalRequest memory) {
        return _withdrawals[account][token];
    }

    /// @inheritdoc ISettlementHub
    function withdrawalDelay() external view returns (uint256) {
        return _withdrawalDelay;
    }

    /// @inheritdoc ISettlementHub
    function paymentDigest(Payment calldata p) external view returns (bytes32) {
        return _hashPayment(p, _domainSeparatorV4());
    }

    // ------------------------------------------------------------------------------------ internals

    /// @dev Credits what arrives of `amount` of `token`, paid by the caller, to `account`.
    function _deposit(address account, address token, uint256 amount) private {
        if (amount == 0) revert SettlementHubZeroAmount();
        if (amount > _MAX_AMOUNT) revert SettlementHubAmountTooLarge(amount);
        // The balance difference is the credit (fee-on-transfer tokens), so the tokens move before
        // the balance is written; `nonReentrant` guards the gap.
        uint256 received = Payouts.collect(token, amount);
        uint256 balance = _balances[token][account] + received;
        if (balance > _MAX_AMOUNT) revert SettlementHubBalanceTooLarge(account, token, balance);
        _balances[token][account] = balance;
        emit Deposited(account, token, msg.sender, received);
    }

    /// @dev Checks intent `p` (with digest `digest`) and, if it can settle, applies it: marks the
    /// nonce used, debits `amount + fee` from the payer, credits `amount` to the payee. The fee is
    /// left for the caller to credit. Returns the first failing reason, changing nothing then.
    function _execute(Payment calldata p, bytes32 digest, bytes calldata signature) private returns (FailureReason) {
        address to = p.to;
        if (to == address(0) || to == address(this)) return FailureReason.InvalidRecipient;
        if (block.timestamp <= p.validAfter) return FailureReason.NotYetValid;
        if (block.timestamp >= p.validBefore) return FailureReason.Expired;

        address from = p.from;
        if (!_isValidSignature(from, digest, signature)) return FailureReason.BadSignature;

        (uint256 wordPos, uint256 bit) = UnorderedNonces.position(p.nonce);
        mapping(uint256 wordPos => uint256) storage words = _nonceBitmaps[from];
        uint256 word = words[wordPos];
        if (word & bit != 0) return FailureReason.NonceUsed;

        mapping(address account => uint256) storage balances = _balances[p.token];
        uint256 amount = p.amount;
        uint256 fromBalance = balances[from];
        if (amount > fromBalance) return FailureReason.InsufficientBalance;
        uint256 fee = p.fee;
        // Cannot underflow: amount <= fromBalance.
        unchecked {
            if (fee > fromBalance - amount) return FailureReason.InsufficientBalance;
        }

        if (to == from) {
            words[wordPos] = word | bit;
            unchecked {
                balances[from] = fromBalance - fee;
            }
            return FailureReason.None;
        }
        // Both terms are below 2^128 (every balance is), so the sum cannot overflow.
        uint256 toBalance;
        unchecked {
            toBalance = balances[to] + amount;
        }
        if (toBalance > _MAX_AMOUNT) return FailureReason.BalanceTooLarge;

        words[wordPos] = word | bit;
        unchecked {
            // amount + fee <= fromBalance, checked above.
            balances[from] = fromBalance - amount - fee;
        }
        balances[to] = toBalance;
        return FailureReason.None;
    }

    /// @dev Credits the caller `amount` of `token` in fees; nothing when `amount` is zero.
    function _creditFees(address token, uint256 amount) private {
        if (amount == 0) return;
        uint256 balance = _balances[token][msg.sender] + amount;
        if (balance > _MAX_AMOUNT) revert SettlementHubBalanceTooLarge(msg.sender, token, balance);
        _balances[token][msg.sender] = balance;
    }

    /// @dev ECDSA first (cheap, and needs no code lookup of `signer`); only when that does not
    /// yield `signer`, ERC-1271. OpenZeppelin's recovery rejects malleable (high `s`) signatures
    /// and anything but 65 bytes.
    function _isValidSignature(address signer, bytes32 digest, bytes calldata signature) private view returns (bool) {
        // slither-disable-next-line unused-return -- the third value only details the error, which is not needed
        (address recovered, ECDSA.RecoverError recoverError, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (recoverError == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }

    /// @dev The EIP-712 digest of `p` under `domainSeparator` (this hub's, {_domainSeparatorV4}, taken
    /// once per batch). The struct hash is `keccak256(typehash ‖ the 9 fields)`; the
    /// fields are static 32-byte words laid out in calldata exactly as EIP-712's `encodeData` wants
    /// them, so they are copied in one go instead of being re-encoded. Fields with dirty high bits
    /// (not ABI-valid) hash differently from any signed intent and revert when read anyway.
    function _hashPayment(Payment calldata p, bytes32 domainSeparator) private pure returns (bytes32) {
        bytes32 typehash = _PAYMENT_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            // Scratch space past the free memory pointer; the pointer is not moved.
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), p, 0x120)
            structHash := keccak256(ptr, 0x140)
        }
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }

    /// @dev Reverts with the custom error matching `reason` for intent `p`.
    function _revertFor(FailureReason reason, Payment calldata p, bytes32 digest) private view {
        if (reason == FailureReason.InvalidRecipient) revert SettlementHubInvalidRecipient(p.to);
        if (reason == FailureReason.NotYetValid) revert SettlementHubNotYetValid(p.validAfter, block.timestamp);
        if (reason == FailureReason.Expired) revert SettlementHubExpired(p.validBefore, block.timestamp);
        if (reason == FailureReason.BadSignature) revert SettlementHubInvalidSignature(p.from, digest);
        if (reason == FailureReason.NonceUsed) revert SettlementHubNonceUsed(p.from, p.nonce);
        if (reason == FailureReason.InsufficientBalance) {
            revert SettlementHubInsufficientBalance(p.from, p.token, _balances[p.token][p.from], p.amount, p.fee);
        }
        revert SettlementHubBalanceTooLarge(p.to, p.token, _balances[p.token][p.to] + p.amount);
    }
}
