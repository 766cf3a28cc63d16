// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token whose `transfer` succeeds but returns a huge blob of data (a return-data bomb):
/// a caller that copies all return data into memory pays quadratic memory gas and runs out.
contract HugeReturnToken is ERC20 {
    constructor() ERC20("Huge Return", "HUGE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        _transfer(msg.sender, to, value);
        assembly ("memory-safe") {
            // Word 0 is `true` (1); the rest is padding the caller may try to copy.
            mstore(0, 1)
            return(0, 500000)
        }
    }
}
