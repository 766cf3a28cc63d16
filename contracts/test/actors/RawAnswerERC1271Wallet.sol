// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice A contract "wallet" that answers every call, `isValidSignature` included, with the raw
/// bytes set at construction (no ABI encoding): a first word that is the ERC-1271 magic value
/// followed by dirty bytes, a short answer, several words. It shows which answers the contracts'
/// `SignatureChecker` takes as "valid", for the client's off-chain check to take the same.
contract RawAnswerERC1271Wallet {
    bytes private _answer;

    /// @param answer_ The bytes every call returns.
    constructor(bytes memory answer_) {
        _answer = answer_;
    }

    /// @notice Returns the answer set at construction, whatever the call.
    fallback(bytes calldata) external returns (bytes memory) {
        return _answer;
    }
}
