// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice A recipient that burns every unit of gas it is given on receipt of native currency,
/// then reverts; it also answers calls with a huge blob of return data.
contract GasBurner {
    receive() external payable {
        while (true) {}
    }

    fallback() external payable {
        assembly {
            return(0, 1000000)
        }
    }
}
