// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice A contract that refuses native currency (like a contract wallet without `receive`)
/// until told otherwise, and forwards arbitrary calls so tests can act through it.
contract RevertingReceiver {
    error NoThanks();

    bool public accepting;

    receive() external payable {
        if (!accepting) revert NoThanks();
    }

    function setAccepting(bool accept) external {
        accepting = accept;
    }

    function execute(address target, bytes calldata data) external returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls -- a test actor forwarding arbitrary calls
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }
}
