// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Payouts} from "../../libraries/Payouts.sol";

/// @notice Exposes the {Payouts} library for tests.
contract PayoutsHarness {
    mapping(address account => mapping(address token => uint256)) public owed;

    receive() external payable {}

    function pay(address token, address to, uint256 amount) external returns (bool pushed) {
        return Payouts.pay(owed, token, to, amount);
    }

    function withdraw(address token) external returns (uint256) {
        return Payouts.withdrawOwed(owed, token);
    }

    function collect(address token, uint256 amount) external payable returns (uint256) {
        return Payouts.collect(token, amount);
    }
}
