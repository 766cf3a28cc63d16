// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title UnorderedNonces
/// @notice Replay protection with unordered nonces kept in 256-bit bitmaps, as Permit2 does.
/// A nonce's high 248 bits select a bitmap word, its low 8 bits a bit in that word. Signers
/// may use nonces in any order; handing them out in order within one word keeps the word's
/// storage slot warm and non-zero, which is far cheaper than touching a fresh word.
/// @dev The bitmaps live in the calling contract's storage as `bitmap[owner][wordPos]`.
library UnorderedNonces {
    /// @notice Emitted when `owner` invalidated the nonces selected by `mask` in word `wordPos`.
    event NoncesInvalidated(address indexed owner, uint256 indexed wordPos, uint256 mask);

    /// @dev Splits a nonce into its bitmap word position and the bit within that word.
    function position(uint256 nonce) internal pure returns (uint256 wordPos, uint256 bit) {
        wordPos = nonce >> 8;
        bit = uint256(1) << (nonce & 0xff);
    }

    /// @dev Whether `owner` has used (or invalidated) `nonce`.
    function isUsed(
        mapping(address owner => mapping(uint256 wordPos => uint256)) storage bitmap,
        address owner,
        uint256 nonce
    ) internal view returns (bool) {
        (uint256 wordPos, uint256 bit) = position(nonce);
        return bitmap[owner][wordPos] & bit != 0;
    }

    /// @dev Marks `nonce` of `owner` used. Returns false, changing nothing, when it already was.
    function tryUse(
        mapping(address owner => mapping(uint256 wordPos => uint256)) storage bitmap,
        address owner,
        uint256 nonce
    ) internal returns (bool fresh) {
        (uint256 wordPos, uint256 bit) = position(nonce);
        uint256 word = bitmap[owner][wordPos];
        if (word & bit != 0) return false;
        bitmap[owner][wordPos] = word | bit;
        return true;
    }

    /// @dev Invalidates every nonce of `owner` whose bit is set in `mask`, in word `wordPos`.
    function invalidate(
        mapping(address owner => mapping(uint256 wordPos => uint256)) storage bitmap,
        address owner,
        uint256 wordPos,
        uint256 mask
    ) internal {
        bitmap[owner][wordPos] |= mask;
        emit NoncesInvalidated(owner, wordPos, mask);
    }
}
