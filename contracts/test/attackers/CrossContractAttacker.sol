// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ITokenHook} from "../tokens/CallbackToken.sol";

/// @notice A party that, when a settlekit contract pays it, calls into settlekit contracts from
/// inside that payout: the next queued call runs on every incoming payment (native `receive`, or an
/// incoming {CallbackToken} transfer through its hook). A queued call that itself pays the attacker
/// therefore runs the following one nested inside it, so a test can build paths such as
/// "escrow payout -> hub deposit" or "channel claim -> hub withdrawal -> channel claim" and check
/// that each contract's accounting and reentrancy guard hold whatever the other contracts do.
contract CrossContractAttacker is ITokenHook {
    /// @notice One queued call.
    struct Call {
        address target;
        uint256 value;
        bytes data;
    }

    /// @notice How a queued call ended.
    struct Outcome {
        bool succeeded;
        bytes4 revertSelector;
    }

    /// @notice Queued call `index` ran from inside a payment and ended as described.
    event CrossCallMade(uint256 indexed index, address indexed target, bool succeeded, bytes4 revertSelector);

    Call[] private _queue;
    Outcome[] private _outcomes;
    uint256 private _next;

    receive() external payable {
        _runNext();
    }

    /// @notice Queues a call to run on a later incoming payment.
    function enqueue(address target, uint256 value, bytes calldata data) external {
        _queue.push(Call({target: target, value: value, data: data}));
    }

    /// @notice Registers this contract's hook with a {CallbackToken}.
    function registerHook(address token) external {
        HookRegistry(token).setHook(true);
    }

    /// @notice Acts as this contract: calls `to` with `value` and `data`, bubbling up a revert.
    function execute(address to, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls -- a test actor forwarding arbitrary calls
        (bool ok, bytes memory ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    /// @inheritdoc ITokenHook
    function onTokenTransfer(address, address to, uint256) external {
        if (to == address(this)) _runNext();
    }

    /// @notice The outcomes of the queued calls that ran, in the order they were started.
    function outcomes() external view returns (Outcome[] memory) {
        return _outcomes;
    }

    /// @notice How many queued calls have started.
    function started() external view returns (uint256) {
        return _next;
    }

    function _runNext() private {
        uint256 index = _next;
        if (index >= _queue.length) return;
        _next = index + 1;
        _outcomes.push();
        Call storage c = _queue[index];
        // solhint-disable-next-line avoid-low-level-calls -- the attack is an arbitrary call
        (bool ok, bytes memory ret) = c.target.call{value: c.value}(c.data);
        bytes4 revertSelector;
        if (!ok && ret.length >= 4) revertSelector = bytes4(ret);
        _outcomes[index] = Outcome({succeeded: ok, revertSelector: revertSelector});
        emit CrossCallMade(index, c.target, ok, revertSelector);
    }
}

/// @dev The one {CallbackToken} function the attacker needs.
interface HookRegistry {
    function setHook(bool enabled) external;
}
