// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Payouts} from "../libraries/Payouts.sol";
import {IPaymentChannels} from "./IPaymentChannels.sol";

/// @title PaymentChannels
/// @notice Unidirectional micropayment channels with cumulative EIP-712 vouchers, delegated session
/// keys, batch claims and a challenge period. See {IPaymentChannels} for the full documentation.
/// @dev Storage per channel is packed so that opening a channel whose payer signs its own vouchers
/// writes three fresh slots (an ERC-20 channel that stored its token address would need four):
/// `head` packs payer, token index, closeRequestedAt, status and a delegation flag into one word
/// (written with one SSTORE), the payee takes one slot, and deposit and claimed are two uint128 in
/// one word. A delegated session key takes a fourth slot, written and read only when one was delegated.
/// Tokens are stored as a 24-bit index into a registry filled on a token's first channel (index 0
/// is native currency), which makes that first channel cost two more slots once.
contract PaymentChannels is IPaymentChannels, Ownable2Step, Pausable, ReentrancyGuardTransient, EIP712 {
    /// @dev One channel in storage: three slots. `head` bits: 0-159 payer, 160-183 token index,
    /// 184-247 closeRequestedAt (a full uint64 timestamp), 248-251 status, 252 delegation flag
    /// (see {_openHead}).
    /// `payee` holds the payee's address in bits 0-159 (the rest zero), stored as a whole word so
    /// that {open} writes it without reading the slot first (see {_payeeOf}).
    /// `amounts` bits: 0-127 deposit, 128-255 claimed (see {_amounts}).
    struct StoredChannel {
        uint256 head;
        uint256 payee;
        uint256 amounts;
    }

    /// @dev `keccak256("Voucher(bytes32 channelId,uint256 cumulativeAmount)")`.
    bytes32 private constant _VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 cumulativeAmount)");

    uint256 private constant _TOKEN_INDEX_SHIFT = 160;
    uint256 private constant _CLOSE_REQUESTED_AT_SHIFT = 184;
    uint256 private constant _STATUS_SHIFT = 248;
    uint256 private constant _DELEGATED_SHIFT = 252;
    /// @dev The most tokens the 24-bit registry index can name (index 0 is native currency).
    uint256 private constant _MAX_TOKENS = type(uint24).max;
    /// @dev The bits of closeRequestedAt (64) and status (4) in `head`.
    uint256 private constant _CLOSE_STATE_MASK = ((1 << 68) - 1) << _CLOSE_REQUESTED_AT_SHIFT;

    uint64 private immutable _challengePeriod;

    // slither-disable-next-line uninitialized-state -- false positive: open() writes it through a storage pointer
    mapping(bytes32 channelId => StoredChannel) private _channels;

    /// @dev Session keys of the channels that delegated one (delegation flag set in `head`).
    mapping(bytes32 channelId => address signer) private _sessionKeys;

    /// @dev The token registry: index of each ERC-20 used so far (0: not yet used), and back.
    mapping(address token => uint32 index) private _tokenIndexes;
    mapping(uint256 index => address token) private _tokens;
    uint32 private _tokenCount;

    mapping(address account => mapping(address token => uint256)) private _owed;

    /// @param owner_ The admin (meant to be a multisig): may pause and unpause {open}, nothing else.
    /// @param challengePeriod_ Seconds between {requestClose} and the earliest {finalizeClose}; not zero.
    constructor(address owner_, uint64 challengePeriod_) Ownable(owner_) EIP712("settlekit PaymentChannels", "1") {
        if (challengePeriod_ == 0) revert PaymentChannelsInvalidChallengePeriod(challengePeriod_);
        _challengePeriod = challengePeriod_;
    }

    // ------------------------------------------------------------------ payer

    /// @inheritdoc IPaymentChannels
    function open(
        address payee,
        address token,
        address signer,
        uint256 amount,
        bytes32 salt
    ) external payable nonReentrant whenNotPaused returns (bytes32 channelId) {
        if (payee == address(0) || payee == address(this)) revert PaymentChannelsInvalidPayee(payee);
        if (amount == 0) revert PaymentChannelsZeroAmount();
        channelId = _channelId(msg.sender, payee, token, salt);
        StoredChannel storage channel = _channels[channelId];
        // Every stored head is non-zero (it holds the payer), so a zero head is a fresh id.
        uint256 existing = channel.head;
        if (existing != 0) revert PaymentChannelsChannelExists(channelId, _statusOf(existing));

        // The deposit must be measured, so the transfer comes first; `nonReentrant` guards it.
        uint256 received = Payouts.collect(token, amount);
        if (received > type(uint128).max) revert PaymentChannelsAmountTooLarge(received);

        uint256 head = _openHead(msg.sender, _registerToken(token));
        if (signer == address(0) || signer == msg.sender) {
            signer = msg.sender;
        } else {
            head |= 1 << _DELEGATED_SHIFT;
            _sessionKeys[channelId] = signer;
        }
        channel.head = head;
        channel.payee = uint256(uint160(payee));
        channel.amounts = received; // deposit `received` (checked above to fit 128 bits), claimed 0
        emit ChannelOpened(channelId, msg.sender, payee, token, signer, received);
    }

    /// @inheritdoc IPaymentChannels
    function topUp(bytes32 channelId, uint256 amount) external payable nonReentrant {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        ChannelStatus status = _statusOf(head);
        if (status != ChannelStatus.Open && status != ChannelStatus.Closing) {
            revert PaymentChannelsChannelNotOpen(channelId, status);
        }
        if (msg.sender != _payerOf(head)) revert PaymentChannelsNotPayer(channelId, msg.sender);
        if (amount == 0) revert PaymentChannelsZeroAmount();

        // The top-up must be measured, so the transfer comes first; `nonReentrant` guards it.
        uint256 received = Payouts.collect(_tokenAt(head), amount);
        uint256 amounts = channel.amounts;
        uint256 deposit = _depositOf(amounts) + received;
        if (deposit > type(uint128).max) revert PaymentChannelsAmountTooLarge(deposit);

        channel.amounts = _amounts(deposit, _claimedOf(amounts));
        emit ChannelToppedUp(channelId, received, deposit);
        if (status == ChannelStatus.Closing) {
            channel.head = _withCloseState(head, ChannelStatus.Open, 0);
            emit ChannelCloseCancelled(channelId);
        }
    }

    /// @inheritdoc IPaymentChannels
    function requestClose(bytes32 channelId) external nonReentrant {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        ChannelStatus status = _statusOf(head);
        if (status == ChannelStatus.Closing) {
            revert PaymentChannelsCloseAlreadyRequested(channelId, _closeRequestedAtOf(head));
        }
        if (status != ChannelStatus.Open) revert PaymentChannelsChannelNotOpen(channelId, status);
        if (msg.sender != _payerOf(head)) revert PaymentChannelsNotPayer(channelId, msg.sender);

        channel.head = _withCloseState(head, ChannelStatus.Closing, SafeCast.toUint64(block.timestamp));
        emit ChannelCloseRequested(channelId, block.timestamp + _challengePeriod);
    }

    // ------------------------------------------------------------------ payee and watchers

    /// @inheritdoc IPaymentChannels
    function claim(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        (ClaimFailureReason reason, uint256 amount) = _claim(channelId, channel, head, cumulativeAmount, signature);
        if (amount == 0) _revertClaim(reason, channelId, channel, head, cumulativeAmount);
        // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
        Payouts.pay(_owed, _tokenAt(head), _payeeOf(channel), amount);
    }

    /// @inheritdoc IPaymentChannels
    function claimBatch(Claim[] calldata claims) external nonReentrant returns (uint256 claimed) {
        // Consecutive successful claims to the same payee in the same token are paid in one payout.
        address pendingPayee = address(0);
        uint256 pendingTokenIndex = 0;
        uint256 pendingAmount = 0;
        uint256 length = claims.length;
        for (uint256 i; i < length; ++i) {
            Claim calldata item = claims[i];
            bytes32 channelId = item.channelId;
            StoredChannel storage channel = _channels[channelId];
            uint256 head = channel.head;
            (ClaimFailureReason reason, uint256 amount) = _claim(
                channelId,
                channel,
                head,
                item.cumulativeAmount,
                item.signature
            );
            if (amount == 0) {
                emit ChannelClaimFailed(channelId, reason);
                continue;
            }
            ++claimed;
            address payee = _payeeOf(channel);
            uint256 tokenIndex = _tokenIndexOf(head);
            if (payee != pendingPayee || tokenIndex != pendingTokenIndex) {
                // Payouts.pay is a no-op for a zero amount, which covers the first successful claim.
                // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
                Payouts.pay(_owed, _tokenAtIndex(pendingTokenIndex), pendingPayee, pendingAmount);
                pendingPayee = payee;
                pendingTokenIndex = tokenIndex;
                pendingAmount = amount;
            } else {
                pendingAmount += amount;
            }
        }
        // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
        Payouts.pay(_owed, _tokenAtIndex(pendingTokenIndex), pendingPayee, pendingAmount);
    }

    /// @inheritdoc IPaymentChannels
    function close(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        if (!_isLive(head)) revert PaymentChannelsChannelNotOpen(channelId, _statusOf(head));
        if (msg.sender != _payeeOf(channel)) revert PaymentChannelsNotPayee(channelId, msg.sender);
        uint256 amounts = channel.amounts;
        uint256 deposit = _depositOf(amounts);
        uint256 claimed = _claimedOf(amounts);
        if (cumulativeAmount < claimed) {
            revert PaymentChannelsAmountBelowClaimed(channelId, cumulativeAmount, claimed);
        }
        if (cumulativeAmount > deposit) {
            revert PaymentChannelsAmountExceedsDeposit(channelId, cumulativeAmount, deposit);
        }
        uint256 amount = cumulativeAmount - claimed;
        if (amount != 0) {
            address signer = _signerOf(channelId, head);
            if (!_isValidVoucher(signer, channelId, cumulativeAmount, signature)) {
                revert PaymentChannelsInvalidSignature(channelId, signer);
            }
            channel.amounts = _amounts(deposit, cumulativeAmount);
        }
        channel.head = _withCloseState(head, ChannelStatus.Closed, _closeRequestedAtOf(head));
        uint256 refund = deposit - cumulativeAmount;
        emit ChannelClosed(channelId, cumulativeAmount, refund);

        address token = _tokenAt(head);
        // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
        Payouts.pay(_owed, token, msg.sender, amount);
        // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
        Payouts.pay(_owed, token, _payerOf(head), refund);
    }

    /// @inheritdoc IPaymentChannels
    function finalizeClose(bytes32 channelId) external nonReentrant {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        ChannelStatus status = _statusOf(head);
        if (status == ChannelStatus.Open) revert PaymentChannelsCloseNotRequested(channelId);
        if (status != ChannelStatus.Closing) revert PaymentChannelsChannelNotOpen(channelId, status);
        uint256 closeRequestedAt = _closeRequestedAtOf(head);
        uint256 closesAt = closeRequestedAt + _challengePeriod;
        if (block.timestamp < closesAt) revert PaymentChannelsChallengePeriodActive(channelId, closesAt);

        channel.head = _withCloseState(head, ChannelStatus.Closed, closeRequestedAt);
        uint256 amounts = channel.amounts;
        uint256 claimed = _claimedOf(amounts);
        uint256 refund;
        // Cannot underflow: claimed never exceeds the deposit (claims are checked against it, and
        // the deposit only grows).
        unchecked {
            refund = _depositOf(amounts) - claimed;
        }
        emit ChannelClosed(channelId, claimed, refund);

        // slither-disable-next-line unused-return -- a payout that cannot be pushed is owed (PayoutDeferred); nothing to do here
        Payouts.pay(_owed, _tokenAt(head), _payerOf(head), refund);
    }

    /// @inheritdoc IPaymentChannels
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        return Payouts.withdrawOwed(_owed, token);
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IPaymentChannels
    function pause() external nonReentrant onlyOwner {
        _pause();
    }

    /// @inheritdoc IPaymentChannels
    function unpause() external nonReentrant onlyOwner {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IPaymentChannels
    function channelIdOf(address payer, address payee, address token, bytes32 salt) external pure returns (bytes32) {
        return _channelId(payer, payee, token, salt);
    }

    /// @inheritdoc IPaymentChannels
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        StoredChannel storage channel = _channels[channelId];
        uint256 head = channel.head;
        uint256 amounts = channel.amounts;
        return
            Channel({
                payer: _payerOf(head),
                payee: _payeeOf(channel),
                token: _tokenAt(head),
                signer: _signerOf(channelId, head),
                deposit: _depositOf(amounts),
                claimed: _claimedOf(amounts),
                closeRequestedAt: uint64(_closeRequestedAtOf(head)),
                status: _statusOf(head)
            });
    }

    /// @inheritdoc IPaymentChannels
    function voucherDigest(bytes32 channelId, uint256 cumulativeAmount) public view returns (bytes32) {
        bytes32 typeHash = _VOUCHER_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            // keccak256(abi.encode(typeHash, channelId, cumulativeAmount)) in free memory, without
            // allocating it: the hot path of every claim.
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), channelId)
            mstore(add(ptr, 0x40), cumulativeAmount)
            structHash := keccak256(ptr, 0x60)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @inheritdoc IPaymentChannels
    function challengePeriod() external view returns (uint256) {
        return _challengePeriod;
    }

    /// @inheritdoc IPaymentChannels
    function owed(address account, address token) external view returns (uint256) {
        return _owed[account][token];
    }

    // ------------------------------------------------------------------ internals

    /// @dev `keccak256(abi.encode(payer, payee, token, salt))`, hashed in free memory without allocating it.
    function _channelId(address payer, address payee, address token, bytes32 salt) private pure returns (bytes32 id) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, and(payer, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x20), and(payee, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x40), and(token, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x60), salt)
            id := keccak256(ptr, 0x80)
        }
    }

    /// @dev The registry index of `token`, registering it on its first channel.
    function _registerToken(address token) private returns (uint256 index) {
        if (token == address(0)) return 0;
        index = _tokenIndexes[token];
        if (index == 0) {
            index = _tokenCount + 1;
            if (index > _MAX_TOKENS) revert PaymentChannelsTooManyTokens(token);
            _tokenCount = uint32(index);
            _tokenIndexes[token] = uint32(index);
            _tokens[index] = token;
        }
    }

    /// @dev The channel's token.
    function _tokenAt(uint256 head) private view returns (address) {
        return _tokenAtIndex(_tokenIndexOf(head));
    }

    /// @dev The token at a registry index; index 0 is native currency (and costs no storage read).
    function _tokenAtIndex(uint256 index) private view returns (address) {
        return index == 0 ? address(0) : _tokens[index];
    }

    function _signerOf(bytes32 channelId, uint256 head) private view returns (address) {
        return _isDelegated(head) ? _sessionKeys[channelId] : _payerOf(head);
    }

    /// @dev The first slot of a channel just opened by `payer` in the token at `tokenIndex` (< 2^24,
    /// checked by {_registerToken}): status Open, no close requested, not delegated.
    function _openHead(address payer, uint256 tokenIndex) private pure returns (uint256) {
        return
            uint256(uint160(payer)) |
            (tokenIndex << _TOKEN_INDEX_SHIFT) |
            (uint256(ChannelStatus.Open) << _STATUS_SHIFT);
    }

    /// @dev `head` with its status and closeRequestedAt replaced (`closeRequestedAt` < 2^64:
    /// callers pass `block.timestamp`, which every EVM chain keeps far below that).
    function _withCloseState(
        uint256 head,
        ChannelStatus status,
        uint256 closeRequestedAt
    ) private pure returns (uint256) {
        return
            (head & ~_CLOSE_STATE_MASK) |
            (closeRequestedAt << _CLOSE_REQUESTED_AT_SHIFT) |
            (uint256(status) << _STATUS_SHIFT);
    }

    /// @dev Packs a channel's amounts; both must be below 2^128 (deposits are checked, and every
    /// claimed amount is at most the deposit).
    function _amounts(uint256 deposit, uint256 claimed) private pure returns (uint256) {
        return deposit | (claimed << 128);
    }

    function _depositOf(uint256 amounts) private pure returns (uint256) {
        return uint128(amounts);
    }

    function _claimedOf(uint256 amounts) private pure returns (uint256) {
        return amounts >> 128;
    }

    function _payeeOf(StoredChannel storage channel) private view returns (address) {
        return address(uint160(channel.payee));
    }

    function _payerOf(uint256 head) private pure returns (address) {
        return address(uint160(head));
    }

    function _tokenIndexOf(uint256 head) private pure returns (uint256) {
        return uint24(head >> _TOKEN_INDEX_SHIFT);
    }

    function _closeRequestedAtOf(uint256 head) private pure returns (uint256) {
        return uint64(head >> _CLOSE_REQUESTED_AT_SHIFT);
    }

    function _statusOf(uint256 head) private pure returns (ChannelStatus) {
        return ChannelStatus(uint8((head >> _STATUS_SHIFT) & 0xf));
    }

    /// @dev Whether the channel is Open or Closing: the states in which it can be claimed or closed.
    /// One comparison on the raw status bits instead of two on the decoded enum.
    function _isLive(uint256 head) private pure returns (bool) {
        // Open (1) and Closing (2) are the only status values with `status - 1 < 2`; None (0) wraps.
        unchecked {
            return ((head >> _STATUS_SHIFT) & 0xf) - 1 < 2;
        }
    }

    function _isDelegated(uint256 head) private pure returns (bool) {
        return (head >> _DELEGATED_SHIFT) & 1 != 0;
    }

    /// @dev ECDSA first (no code lookup for the common EOA signer, malleable `s` rejected), then
    /// ERC-1271 through OZ SignatureChecker (which fails for an account without code).
    function _isValidVoucher(
        address signer,
        bytes32 channelId,
        uint256 cumulativeAmount,
        bytes calldata signature
    ) private view returns (bool) {
        bytes32 digest = voucherDigest(channelId, cumulativeAmount);
        // slither-disable-next-line unused-return -- the error argument only details a failure we treat as "not ECDSA"
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }

    /// @dev Validates a voucher and records it as claimed, without paying. On failure nothing
    /// changes, `amount` is zero and `reason` says why (a successful claim always pays more than zero).
    /// @return reason Why it failed (meaningless when `amount` is not zero).
    /// @return amount What the payee is to be paid (`cumulativeAmount - claimed`).
    function _claim(
        bytes32 channelId,
        StoredChannel storage channel,
        uint256 head,
        uint256 cumulativeAmount,
        bytes calldata signature
    ) private returns (ClaimFailureReason reason, uint256 amount) {
        if (!_isLive(head)) return (ClaimFailureReason.ChannelNotOpen, 0);
        uint256 amounts = channel.amounts;
        uint256 claimed = _claimedOf(amounts);
        uint256 deposit = _depositOf(amounts);
        if (cumulativeAmount <= claimed) return (ClaimFailureReason.AmountNotAboveClaimed, 0);
        if (cumulativeAmount > deposit) return (ClaimFailureReason.AmountExceedsDeposit, 0);
        if (!_isValidVoucher(_signerOf(channelId, head), channelId, cumulativeAmount, signature)) {
            return (ClaimFailureReason.InvalidSignature, 0);
        }
        channel.amounts = _amounts(deposit, cumulativeAmount);
        // Cannot underflow: cumulativeAmount > claimed was checked above.
        unchecked {
            amount = cumulativeAmount - claimed;
        }
        emit ChannelClaimed(channelId, cumulativeAmount, amount);
    }

    /// @dev Reverts {claim} with the custom error for `reason`, carrying the values that explain it.
    function _revertClaim(
        ClaimFailureReason reason,
        bytes32 channelId,
        StoredChannel storage channel,
        uint256 head,
        uint256 cumulativeAmount
    ) private view {
        if (reason == ClaimFailureReason.ChannelNotOpen) {
            revert PaymentChannelsChannelNotOpen(channelId, _statusOf(head));
        }
        if (reason == ClaimFailureReason.AmountNotAboveClaimed) {
            revert PaymentChannelsNothingToClaim(channelId, cumulativeAmount, _claimedOf(channel.amounts));
        }
        if (reason == ClaimFailureReason.AmountExceedsDeposit) {
            revert PaymentChannelsAmountExceedsDeposit(channelId, cumulativeAmount, _depositOf(channel.amounts));
        }
        revert PaymentChannelsInvalidSignature(channelId, _signerOf(channelId, head));
    }
}
