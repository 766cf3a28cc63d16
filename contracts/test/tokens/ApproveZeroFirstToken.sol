// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Imitates USDT's approval race guard: changing a non-zero allowance to another
/// non-zero value reverts; it must be set to zero first.
contract ApproveZeroFirstToken is ERC20 {
    error ApproveFromNonZero(uint256 current);

    constructor() ERC20("Approve Zero First", "AZF") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function approve(address spender, uint256 value) public override returns (bool) {
        uint256 current = allowance(msg.sender, spender);
        if (current != 0 && value != 0) revert ApproveFromNonZero(current);
        return super.approve(spender, value);
    }
}
