// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Imitates USDC/USDT blocklists and pausing: transfers from or to a blocked address
/// revert, and a paused token reverts every transfer.
contract BlocklistToken is ERC20 {
    error Blocked(address account);
    error TokenPaused();

    mapping(address => bool) public blocked;
    bool public paused;

    constructor() ERC20("Blocklist USD", "BUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function setPaused(bool isPaused) external {
        paused = isPaused;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (paused) revert TokenPaused();
        if (blocked[from]) revert Blocked(from);
        if (blocked[to]) revert Blocked(to);
        super._update(from, to, value);
    }
}
