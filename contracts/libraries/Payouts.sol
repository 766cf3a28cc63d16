// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Payouts
/// @notice Moves value in and out of settlekit contracts. Payouts to anyone but the caller use
/// "payout with fallback": the amount is pushed, and when the recipient cannot receive it
/// (a reverting or gas-hungry contract, a token blocklist, a paused token, a token returning
/// false) it is credited to the recipient's owed balance instead, to be pulled later with
/// {withdrawOwed}. A hostile recipient can therefore never block anyone else's payout or a
/// state transition.
/// @dev `token == address(0)` is the chain's native currency. The owed ledger lives in the
/// calling contract's storage as `owed[account][token]`.
library Payouts {
    using SafeERC20 for IERC20;

    /// @notice Gas forwarded with a native push. Enough for an EOA, a smart-wallet proxy that
    /// emits an event, or a contract that records the payment; a recipient needing more is paid
    /// through its owed balance. Bounded so a gas-burning recipient cannot eat the caller's gas.
    uint256 internal constant NATIVE_PUSH_GAS = 30_000;

    /// @notice Emitted when a push failed and `amount` of `token` was credited to `recipient`'s
    /// owed balance instead.
    event PayoutDeferred(address indexed recipient, address indexed token, uint256 amount);

    /// @notice Emitted when `account` pulled its owed balance of `token`.
    event OwedWithdrawn(address indexed account, address indexed token, uint256 amount);

    /// @notice The caller has no owed balance of `token`.
    error PayoutsNothingOwed(address account, address token);

    /// @notice A native transfer to `to` (the caller itself) failed.
    error PayoutsNativeTransferFailed(address to, uint256 amount);

    /// @notice Native value was sent with an ERC-20 operation, or the wrong amount with a native one.
    error PayoutsWrongValue(uint256 expected, uint256 actual);

    /// @notice The call ran so low on gas that a failed push might be the caller's doing; the
    /// transaction is reverted instead of deferring the payout.
    error PayoutsInsufficientGas();

    /// @dev Pays `amount` of `token` to `to`, deferring it to `owed` when the push fails.
    /// @return pushed True when the recipient received the amount now, false when it was deferred.
    function pay(
        mapping(address account => mapping(address token => uint256)) storage owed,
        address token,
        address to,
        uint256 amount
    ) internal returns (bool pushed) {
        if (amount == 0) return true;
        if (token == address(0)) {
            uint256 stipend = NATIVE_PUSH_GAS;
            assembly ("memory-safe") {
                // No return data is copied: a recipient returning a huge blob costs nothing here.
                pushed := call(stipend, to, amount, 0, 0, 0, 0)
            }
            if (!pushed && gasleft() < stipend / 63) revert PayoutsInsufficientGas();
        } else {
            // Reads at most 32 bytes of return data; accepts tokens without a return value.
            pushed = IERC20(token).trySafeTransfer(to, amount);
        }
        if (!pushed) {
            owed[to][token] += amount;
            emit PayoutDeferred(to, token, amount);
        }
    }

    /// @dev Pays the caller's whole owed balance of `token` to the caller. Reverts when nothing is
    /// owed or the transfer fails (the caller can retry; the balance stays owed).
    /// @return amount The amount paid.
    function withdrawOwed(
        mapping(address account => mapping(address token => uint256)) storage owed,
        address token
    ) internal returns (uint256 amount) {
        amount = owed[msg.sender][token];
        if (amount == 0) revert PayoutsNothingOwed(msg.sender, token);
        owed[msg.sender][token] = 0;
        emit OwedWithdrawn(msg.sender, token, amount);
        sendOrRevert(token, msg.sender, amount);
    }

    /// @dev Sends `amount` of `token` to `to`, reverting on failure. Only for transfers to a
    /// destination the caller chose (its own withdrawals), where a revert hurts nobody else.
    function sendOrRevert(address token, address to, uint256 amount) internal {
        if (token == address(0)) {
            bool ok;
            assembly ("memory-safe") {
                ok := call(gas(), to, amount, 0, 0, 0, 0)
            }
            if (!ok) revert PayoutsNativeTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    /// @dev Takes `amount` of `token` from the caller into this contract and returns what arrived.
    /// Native: `msg.value` must equal `amount`. ERC-20: `msg.value` must be zero, and the amount
    /// credited is the balance difference, so fee-on-transfer tokens credit what actually arrived.
    // slither-disable-next-line msg-value-in-nonpayable -- false positive: slither 0.11.6 does not follow internal library calls; collect is reached from payable entry points (Escrow.create, SettlementHub.deposit, PaymentChannels.open)
    function collect(address token, uint256 amount) internal returns (uint256 received) {
        if (token == address(0)) {
            if (msg.value != amount) revert PayoutsWrongValue(amount, msg.value);
            return amount;
        }
        if (msg.value != 0) revert PayoutsWrongValue(0, msg.value);
        uint256 before = _balanceOfThis(token);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        received = _balanceOfThis(token) - before;
    }

    /// @dev `token.balanceOf(address(this))` in scratch memory. Reverts like a high-level call would:
    /// bubbling the token's revert, or with empty data when it returns fewer than 32 bytes (no code).
    function _balanceOfThis(address token) private view returns (uint256 amount) {
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, address())
            let ok := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            if iszero(ok) {
                let ptr := mload(0x40)
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x20) {
                revert(0, 0)
            }
            amount := mload(0x00)
        }
    }
}
