// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice What an invariant handler uses to check each action against the outcome the contract's
/// rules predict, without reverting (with `failOnRevert: false` a revert would discard the
/// evidence): an action whose outcome differs is counted, and the first one described, for an
/// invariant to report.
abstract contract OutcomeLedger {
    /// @notice Outcomes the contract's rules do not explain (an action refused for another reason
    /// than predicted, or accepted when it should be refused).
    uint256 public unexpectedOutcomes;
    /// @notice The first of them, described.
    string public firstUnexpected;

    /// @dev `action` succeeded: unexpected when an error was predicted (`expected` non-empty).
    function _expectSuccess(bytes memory expected, string memory action) internal {
        if (expected.length != 0) _unexpected(string.concat(action, " succeeded where its rules refuse"));
    }

    /// @dev `action` reverted with `reason`: unexpected unless it is exactly the predicted error.
    function _expectError(bytes memory reason, bytes memory expected, string memory action) internal {
        if (keccak256(reason) != keccak256(expected)) _unexpected(string.concat(action, " refused for another reason"));
    }

    function _unexpected(string memory what) internal {
        if (unexpectedOutcomes++ == 0) firstUnexpected = what;
    }
}
