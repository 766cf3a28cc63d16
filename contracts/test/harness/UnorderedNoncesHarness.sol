// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {UnorderedNonces} from "../../libraries/UnorderedNonces.sol";

/// @notice Exposes the {UnorderedNonces} library for tests.
contract UnorderedNoncesHarness {
    mapping(address owner => mapping(uint256 wordPos => uint256)) public bitmap;

    function tryUse(address owner, uint256 nonce) external returns (bool) {
        return UnorderedNonces.tryUse(bitmap, owner, nonce);
    }

    function isUsed(address owner, uint256 nonce) external view returns (bool) {
        return UnorderedNonces.isUsed(bitmap, owner, nonce);
    }

    function invalidate(uint256 wordPos, uint256 mask) external {
        UnorderedNonces.invalidate(bitmap, msg.sender, wordPos, mask);
    }
}
