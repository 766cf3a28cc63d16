// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC1271Wallet} from "./ERC1271Wallet.sol";

/// @notice An {ERC1271Wallet} whose answer depends on who asks: it approves a digest signed by
/// its owner only when called by `caller`, the one contract it is bound to (as wallets that
/// allow-list callers, or rehash per calling app, behave). Asked by anyone else, including an
/// `eth_call` with no `from`, it rejects every signature.
contract CallerBoundERC1271Wallet is ERC1271Wallet {
    /// @notice The only `msg.sender` for which `isValidSignature` approves anything.
    address public immutable caller;

    /// @param owner_ The EOA whose signatures the wallet approves.
    /// @param caller_ The contract that the wallet answers to.
    constructor(address owner_, address caller_) ERC1271Wallet(owner_) {
        caller = caller_;
    }

    /// @notice ERC-1271: the owner's approval as {ERC1271Wallet} gives it, asked by `caller`;
    /// `0xffffffff` to anyone else.
    function isValidSignature(bytes32 digest, bytes calldata signature) public view override returns (bytes4) {
        if (msg.sender != caller) return 0xffffffff;
        return super.isValidSignature(digest, signature);
    }
}
