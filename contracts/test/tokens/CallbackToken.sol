// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice The hook a holder of {CallbackToken} implements.
interface ITokenHook {
    function onTokenTransfer(address from, address to, uint256 amount) external;
}

/// @notice Imitates ERC-777-style tokens (e.g. imBTC, which was used to drain Uniswap V1 and
/// Lendf.me): every transfer calls a hook on the sender and on the recipient when they have
/// registered one, handing control to them in the middle of the caller's operation.
contract CallbackToken is ERC20 {
    mapping(address account => bool) public hasHook;

    constructor() ERC20("Callback Token", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Registers (or removes) the caller's hook.
    function setHook(bool enabled) external {
        hasHook[msg.sender] = enabled;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && hasHook[from]) ITokenHook(from).onTokenTransfer(from, to, value);
        super._update(from, to, value);
        if (to != address(0) && hasHook[to]) ITokenHook(to).onTokenTransfer(from, to, value);
    }
}
