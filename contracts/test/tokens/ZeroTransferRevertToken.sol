// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Imitates tokens that revert on zero-amount transfers (e.g. LEND, early BNB).
contract ZeroTransferRevertToken is ERC20 {
    error ZeroTransfer();

    constructor() ERC20("Zero Revert", "ZREV") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (value == 0) revert ZeroTransfer();
        super._update(from, to, value);
    }
}
