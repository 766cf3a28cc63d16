// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Payouts} from "../libraries/Payouts.sol";
import {IEscrow} from "./IEscrow.sol";

/// @title Escrow
/// @notice settlekit's escrow: many escrows in one contract, with partial, gasless and arbitrated
/// releases, deadlines with an expiry action, and payouts that a hostile party cannot block.
/// @dev Documentation lives in {IEscrow}. Storage is packed so that creating an escrow without an
/// arbiter fills three fresh slots (see {Record}).
contract Escrow is IEscrow, EIP712, Ownable2Step, Pausable, ReentrancyGuardTransient {
    /// @inheritdoc IEscrow
    uint16 public constant MAX_FEE_BPS = 500;

    /// @inheritdoc IEscrow
    uint64 public constant MAX_RESOLUTION_TIMEOUT = 365 days;

    /// @dev EIP-712 type hash of the payer's release authorisation.
    bytes32 private constant _RELEASE_TYPEHASH = keccak256(
        "Release(uint256 id,uint256 releasedTotal,uint256 deadline)"
    );

    uint256 private constant _BPS = 10_000;

    /// @dev One escrow. Creating one fills three fresh slots, four with an arbiter:
    /// - slot 0: payer, deadline, stored state, expiry action and fee rate;
    /// - slot 1: payee, dispute time and the token's index in the token registry (0: native), so
    ///   the token's address is stored once per token rather than once per escrow;
    /// - slot 2: remaining and released, so a payout updates a single slot;
    /// - slot 3: arbiter, written only when there is one.
    /// The stored state is `Active` or `Disputed`; `Closed` is derived from `remaining == 0`,
    /// which saves a write on the last payout.
    struct Record {
        address payer;
        uint64 deadline;
        EscrowState state;
        ExpiryAction onExpiry;
        uint16 feeBps;
        address payee;
        uint64 disputedAt;
        uint32 tokenIndex;
        uint128 remaining;
        uint128 released;
        address arbiter;
    }

    uint64 private immutable _resolutionTimeout;

    // `_feeBps` and `_lastId` share a slot with the inherited `_pendingOwner` and `_paused`, so
    // `create` reads the pause flag, the fee rate and the id counter with one storage access.
    uint16 private _feeBps;
    uint64 private _lastId;
    uint32 private _tokenCount;
    address private _feeRecipient;
    // slither-disable-next-line uninitialized-state -- written through the storage pointer in `_record`, which slither does not follow
    mapping(uint256 id => Record) private _escrows;
    /// @dev The token registry: every ERC-20 ever escrowed, numbered from 1 on its first escrow.
    mapping(address token => uint32 index) private _tokenIndex;
    mapping(uint32 index => address token) private _tokenAt;
    mapping(address account => mapping(address token => uint256)) private _owed;

    /// @param initialOwner The owner (meant to be a multisig): sets the fee and pauses creation.
    /// @param initialFeeRecipient Who accrues protocol fees; not zero.
    /// @param initialFeeBps The protocol fee rate in basis points, at most {MAX_FEE_BPS}.
    /// @param resolutionTimeout_ How long an arbiter has to resolve a dispute, in seconds
    /// (1 to {MAX_RESOLUTION_TIMEOUT}).
    constructor(
        address initialOwner,
        address initialFeeRecipient,
        uint16 initialFeeBps,
        uint64 resolutionTimeout_
    ) EIP712("settlekit Escrow", "1") Ownable(initialOwner) {
        if (resolutionTimeout_ == 0 || resolutionTimeout_ > MAX_RESOLUTION_TIMEOUT) {
            revert EscrowInvalidResolutionTimeout(resolutionTimeout_, MAX_RESOLUTION_TIMEOUT);
        }
        _resolutionTimeout = resolutionTimeout_;
        _setFee(initialFeeBps);
        _setFeeRecipient(initialFeeRecipient);
    }

    // ------------------------------------------------------------------ escrow life cycle

    /// @inheritdoc IEscrow
    function create(CreateParams calldata p) external payable nonReentrant whenNotPaused returns (uint256 id) {
        id = _create(p);
    }

    /// @inheritdoc IEscrow
    function createWithPermit(
        CreateParams calldata p,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant whenNotPaused returns (uint256 id) {
        if (p.token == address(0)) revert EscrowPermitForNativeCurrency();
        // A failing permit is ignored on purpose: it fails when someone front-ran it with the same
        // signature, and then the allowance is already in place. Without enough allowance the
        // transfer in `_create` reverts.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(p.token).permit(msg.sender, address(this), p.amount, permitDeadline, v, r, s) {} catch {}
        id = _create(p);
    }

    /// @inheritdoc IEscrow
    function release(uint256 id, uint256 amount) external nonReentrant {
        Record storage e = _escrows[id];
        // Each slot of the record is read once: payer and fee rate share the first.
        address payer = e.payer;
        uint256 feeRate = e.feeBps;
        if (payer == address(0)) revert EscrowNotFound(id);
        if (msg.sender != payer) revert EscrowNotPayer(id, msg.sender);
        uint256 left = e.remaining;
        uint256 released = e.released;
        _checkDebit(id, left, amount);
        _release(id, e, amount, left, released, feeRate);
    }

    /// @inheritdoc IEscrow
    function refund(uint256 id, uint256 amount) external nonReentrant {
        Record storage e = _existing(id);
        if (msg.sender != e.payee) revert EscrowNotPayee(id, msg.sender);
        uint256 left = e.remaining;
        _checkDebit(id, left, amount);
        // Cannot underflow: amount <= left was checked.
        unchecked {
            e.remaining = uint128(left - amount);
        }
        emit EscrowRefunded(id, amount);
        _pay(_token(e), e.payer, amount);
    }

    /// @inheritdoc IEscrow
    function releaseWithSig(
        uint256 id,
        uint256 releasedTotal,
        uint256 sigDeadline,
        bytes calldata signature
    ) external nonReentrant {
        if (block.timestamp > sigDeadline) revert EscrowSignatureExpired(id, sigDeadline);
        Record storage e = _escrows[id];
        address payer = e.payer;
        uint256 feeRate = e.feeBps;
        if (payer == address(0)) revert EscrowNotFound(id);
        uint256 left = e.remaining;
        uint256 released = e.released;
        if (left == 0) revert EscrowClosed(id);
        if (releasedTotal <= released) revert EscrowNothingToRelease(id, releasedTotal, released);
        if (!_isPayerSignature(payer, _releaseDigest(id, releasedTotal, sigDeadline), signature)) {
            revert EscrowInvalidSignature(id, payer);
        }
        uint256 amount;
        // Cannot underflow: releasedTotal > released was checked above.
        unchecked {
            amount = releasedTotal - released;
        }
        _release(id, e, amount < left ? amount : left, left, released, feeRate);
    }

    /// @inheritdoc IEscrow
    function dispute(uint256 id) external nonReentrant {
        Record storage e = _existing(id);
        if (msg.sender != e.payer && msg.sender != e.payee) revert EscrowNotParty(id, msg.sender);
        if (e.remaining == 0) revert EscrowClosed(id);
        if (e.arbiter == address(0)) revert EscrowNoArbiter(id);
        if (e.state == EscrowState.Disputed) revert EscrowAlreadyDisputed(id);
        uint64 deadline = e.deadline;
        if (block.timestamp > deadline) revert EscrowDeadlinePassed(id, deadline);
        e.state = EscrowState.Disputed;
        e.disputedAt = uint64(block.timestamp);
        emit EscrowDisputed(id, msg.sender);
    }

    /// @inheritdoc IEscrow
    function resolve(uint256 id, uint256 toPayee) external nonReentrant {
        Record storage e = _existing(id);
        if (msg.sender != e.arbiter) revert EscrowNotArbiter(id, msg.sender);
        uint256 left = e.remaining;
        if (left == 0) revert EscrowClosed(id);
        if (e.state != EscrowState.Disputed) revert EscrowNotDisputed(id);
        if (toPayee > left) revert EscrowAmountExceedsRemaining(id, toPayee, left);
        e.remaining = 0;
        // Cannot overflow: released + remaining never exceeds the amount created, a uint128.
        e.released += uint128(toPayee);
        address token = _token(e);
        uint256 fee = _accrueFee(e, token, toPayee);
        uint256 toPayer = left - toPayee;
        emit EscrowResolved(id, toPayee, toPayer, fee);
        _pay(token, e.payee, toPayee - fee);
        _pay(token, e.payer, toPayer);
    }

    /// @inheritdoc IEscrow
    function settleExpired(uint256 id) external nonReentrant {
        Record storage e = _existing(id);
        uint256 left = e.remaining;
        if (left == 0) revert EscrowClosed(id);
        uint256 settleableAfter = _settleableAfter(e);
        if (block.timestamp <= settleableAfter) revert EscrowNotExpired(id, settleableAfter);
        _settle(id, e, left);
    }

    /// @inheritdoc IEscrow
    function settleExpiredBatch(uint256[] calldata ids) external nonReentrant returns (uint256 settled) {
        uint256 count = ids.length;
        for (uint256 i; i < count; ++i) {
            uint256 id = ids[i];
            Record storage e = _escrows[id];
            uint256 left = e.remaining;
            // An unknown id has nothing remaining, like a closed one.
            if (left == 0 || block.timestamp <= _settleableAfter(e)) continue;
            _settle(id, e, left);
            ++settled;
        }
    }

    /// @inheritdoc IEscrow
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        amount = Payouts.withdrawOwed(_owed, token);
    }

    // ------------------------------------------------------------------ administration

    /// @inheritdoc IEscrow
    function setFee(uint16 newFeeBps) external nonReentrant onlyOwner {
        _setFee(newFeeBps);
    }

    /// @inheritdoc IEscrow
    function setFeeRecipient(address newRecipient) external nonReentrant onlyOwner {
        _setFeeRecipient(newRecipient);
    }

    /// @inheritdoc IEscrow
    function pause() external nonReentrant onlyOwner {
        _pause();
    }

    /// @inheritdoc IEscrow
    function unpause() external nonReentrant onlyOwner {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEscrow
    function getEscrow(uint256 id) external view returns (EscrowView memory escrow) {
        Record storage e = _escrows[id];
        escrow = EscrowView({
            payer: e.payer,
            payee: e.payee,
            arbiter: e.arbiter,
            token: _token(e),
            remaining: e.remaining,
            released: e.released,
            deadline: e.deadline,
            disputedAt: e.disputedAt,
            state: e.state,
            feeBps: e.feeBps,
            onExpiry: e.onExpiry
        });
        if (escrow.payer != address(0) && escrow.remaining == 0) escrow.state = EscrowState.Closed;
    }

    /// @inheritdoc IEscrow
    function remaining(uint256 id) external view returns (uint256) {
        return _escrows[id].remaining;
    }

    /// @inheritdoc IEscrow
    function releaseDigest(uint256 id, uint256 releasedTotal, uint256 deadline) external view returns (bytes32) {
        return _releaseDigest(id, releasedTotal, deadline);
    }

    /// @inheritdoc IEscrow
    function owed(address account, address token) external view returns (uint256) {
        return _owed[account][token];
    }

    /// @inheritdoc IEscrow
    function feeBps() external view returns (uint16) {
        return _feeBps;
    }

    /// @inheritdoc IEscrow
    function feeRecipient() external view returns (address) {
        return _feeRecipient;
    }

    /// @inheritdoc IEscrow
    function resolutionTimeout() external view returns (uint64) {
        return _resolutionTimeout;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Validates the terms, takes the funds and records the escrow. The recorded amount is
    /// what actually arrived, so it is written after the transfer; `nonReentrant` on every entry
    /// point keeps a token's callback from observing the half-made escrow.
    function _create(CreateParams calldata p) private returns (uint256 id) {
        _checkTerms(p);
        id = ++_lastId;
        uint32 tokenIndex = _tokenIndexOf(p.token);
        uint256 received = Payouts.collect(p.token, p.amount);
        if (received == 0) revert EscrowZeroAmount();
        if (received > type(uint128).max) revert EscrowAmountTooLarge(received);
        _record(id, p, tokenIndex, uint128(received));
    }

    /// @dev Stores escrow `id` holding `received`, with the current fee rate, and announces it.
    function _record(uint256 id, CreateParams calldata p, uint32 tokenIndex, uint128 received) private {
        uint16 fee = _feeBps;
        Record storage e = _escrows[id];
        {
            // The enum is read (and validated) before the writes, so that the compiler merges more
            // of the first slot's fields into one write.
            ExpiryAction onExpiry = p.onExpiry;
            e.payer = msg.sender;
            e.deadline = p.deadline;
            e.state = EscrowState.Active;
            e.onExpiry = onExpiry;
            e.feeBps = fee;
        }
        e.payee = p.payee;
        e.tokenIndex = tokenIndex;
        if (p.arbiter != address(0)) e.arbiter = p.arbiter;
        e.remaining = received;
        emit EscrowCreated(id, msg.sender, p.payee, p.arbiter, p.token, received, p.deadline, p.onExpiry, fee, p.ref);
    }

    /// @dev Reverts unless the terms of a new escrow are acceptable (see {IEscrow-create}).
    function _checkTerms(CreateParams calldata p) private view {
        address payee = p.payee;
        if (payee == address(0) || payee == msg.sender || payee == address(this)) revert EscrowInvalidPayee(payee);
        address arbiter = p.arbiter;
        if (arbiter != address(0) && (arbiter == msg.sender || arbiter == payee)) revert EscrowInvalidArbiter(arbiter);
        if (p.amount == 0) revert EscrowZeroAmount();
        if (p.amount > type(uint128).max) revert EscrowAmountTooLarge(p.amount);
        if (p.deadline <= block.timestamp) revert EscrowDeadlineNotInFuture(p.deadline, block.timestamp);
    }

    /// @dev The registry index of `token` (0 for the native currency), numbering an ERC-20 on its
    /// first escrow. An index is 32 bits: registering 2**32 tokens is economically impossible, and
    /// the checked increment would revert rather than wrap.
    function _tokenIndexOf(address token) private returns (uint32 index) {
        if (token == address(0)) return 0;
        index = _tokenIndex[token];
        if (index == 0) {
            index = ++_tokenCount;
            _tokenIndex[token] = index;
            _tokenAt[index] = token;
        }
    }

    /// @dev The escrow's token (`address(0)`: native currency).
    function _token(Record storage e) private view returns (address) {
        uint32 index = e.tokenIndex;
        return index == 0 ? address(0) : _tokenAt[index];
    }

    /// @dev The escrow `id`; reverts when it was never created.
    function _existing(uint256 id) private view returns (Record storage e) {
        e = _escrows[id];
        if (e.payer == address(0)) revert EscrowNotFound(id);
    }

    /// @dev Releases `amount` (checked by the caller: `0 < amount <= left`) of escrow `id` to the
    /// payee: takes it out of the escrow, accrues the fee at `feeRate`, pays the rest. `left` and
    /// `released` are the escrow's amounts as the caller read them.
    function _release(
        uint256 id,
        Record storage e,
        uint256 amount,
        uint256 left,
        uint256 released,
        uint256 feeRate
    ) private {
        // Both fit: amount <= left, and released + remaining never exceeds the amount created, a uint128.
        unchecked {
            e.remaining = uint128(left - amount);
            e.released = uint128(released + amount);
        }
        address payee = e.payee;
        uint32 tokenIndex = e.tokenIndex;
        address token = tokenIndex == 0 ? address(0) : _tokenAt[tokenIndex];
        uint256 fee = _accrueFeeAt(feeRate, token, amount);
        emit EscrowReleased(id, amount, fee);
        uint256 toPayee;
        // Cannot underflow: the fee is at most MAX_FEE_BPS / _BPS of the amount.
        unchecked {
            toPayee = amount - fee;
        }
        _pay(token, payee, toPayee);
    }

    /// @dev Reverts unless `amount` may be taken out of escrow `id` holding `left`: `0 < amount <= left`.
    function _checkDebit(uint256 id, uint256 left, uint256 amount) private pure {
        if (left == 0) revert EscrowClosed(id);
        if (amount == 0) revert EscrowZeroAmount();
        if (amount > left) revert EscrowAmountExceedsRemaining(id, amount, left);
    }

    /// @dev Applies the expiry action of escrow `id` to all of its `left` remaining funds.
    function _settle(uint256 id, Record storage e, uint256 left) private {
        e.remaining = 0;
        address token = _token(e);
        ExpiryAction action = e.onExpiry;
        if (action == ExpiryAction.ReleasePayee) {
            e.released += uint128(left);
            uint256 fee = _accrueFee(e, token, left);
            emit EscrowExpired(id, action, left, fee);
            _pay(token, e.payee, left - fee);
        } else {
            emit EscrowExpired(id, action, left, 0);
            _pay(token, e.payer, left);
        }
    }

    /// @dev The escrow's fee on `amount` paid to the payee, credited to the fee recipient.
    function _accrueFee(Record storage e, address token, uint256 amount) private returns (uint256 fee) {
        fee = _accrueFeeAt(e.feeBps, token, amount);
    }

    /// @dev The fee at `feeRate` basis points on `amount` paid to the payee, credited to the fee recipient.
    function _accrueFeeAt(uint256 feeRate, address token, uint256 amount) private returns (uint256 fee) {
        // No overflow: amount < 2**128 and feeRate <= MAX_FEE_BPS.
        unchecked {
            fee = (amount * feeRate) / _BPS;
        }
        if (fee != 0) _owed[_feeRecipient][token] += fee;
    }

    /// @dev Pays with fallback to the owed balance. Whether the push succeeded does not matter
    /// here: either way the recipient has the amount or can pull it, and `Payouts` emits
    /// `PayoutDeferred` when it deferred.
    function _pay(address token, address to, uint256 amount) private {
        // slither-disable-next-line unused-return -- a deferred payout is already credited to `owed`
        Payouts.pay(_owed, token, to, amount);
    }

    /// @dev After this time an escrow may be settled on expiry: the deadline, postponed for a
    /// disputed escrow until the arbiter's resolution timeout has passed.
    function _settleableAfter(Record storage e) private view returns (uint256 settleableAfter) {
        settleableAfter = e.deadline;
        if (e.state == EscrowState.Disputed) {
            uint256 resolvableUntil = uint256(e.disputedAt) + _resolutionTimeout;
            if (resolvableUntil > settleableAfter) settleableAfter = resolvableUntil;
        }
    }

    /// @dev An ECDSA signature by `payer` is checked first (cheap, no code lookup), then ERC-1271.
    /// `tryRecoverCalldata` rejects malleable (high-s) signatures.
    function _isPayerSignature(address payer, bytes32 digest, bytes calldata signature) private view returns (bool) {
        // slither-disable-next-line unused-return -- the third value only details the error for messages
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == payer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(payer, digest, signature);
    }

    function _releaseDigest(uint256 id, uint256 releasedTotal, uint256 deadline) private view returns (bytes32) {
        bytes32 typeHash = _RELEASE_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            // keccak256(abi.encode(typeHash, id, releasedTotal, deadline)) in free memory, without
            // allocating it.
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), id)
            mstore(add(ptr, 0x40), releasedTotal)
            mstore(add(ptr, 0x60), deadline)
            structHash := keccak256(ptr, 0x80)
        }
        return _hashTypedDataV4(structHash);
    }

    function _setFee(uint16 newFeeBps) private {
        if (newFeeBps > MAX_FEE_BPS) revert EscrowFeeTooHigh(newFeeBps, MAX_FEE_BPS);
        uint16 previous = _feeBps;
        _feeBps = newFeeBps;
        emit FeeUpdated(previous, newFeeBps);
    }

    function _setFeeRecipient(address newRecipient) private {
        if (newRecipient == address(0)) revert EscrowInvalidFeeRecipient(newRecipient);
        address previous = _feeRecipient;
        _feeRecipient = newRecipient;
        emit FeeRecipientUpdated(previous, newRecipient);
    }
}
