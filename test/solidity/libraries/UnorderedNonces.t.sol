// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {UnorderedNoncesHarness} from "../../../contracts/test/harness/UnorderedNoncesHarness.sol";

contract UnorderedNoncesTest is Test {
    UnorderedNoncesHarness internal nonces;

    function setUp() public {
        nonces = new UnorderedNoncesHarness();
    }

    function testFuzz_NonceUsableExactlyOnce(address owner, uint256 nonce) public {
        assertFalse(nonces.isUsed(owner, nonce), "fresh nonce reads used");
        assertTrue(nonces.tryUse(owner, nonce), "first use refused");
        assertTrue(nonces.isUsed(owner, nonce), "used nonce reads fresh");
        assertFalse(nonces.tryUse(owner, nonce), "second use accepted");
    }

    /// Using nonce `a` of `owner` marks exactly that nonce: `a` reads used, any other nonce `b` of
    /// the same owner and nonce `a` of another owner stay fresh.
    function testFuzz_UsingOneNonceLeavesOthersFresh(address owner, uint256 a, uint256 b) public {
        vm.assume(a != b);
        assertTrue(nonces.tryUse(owner, a), "first use of a fresh nonce refused");
        assertTrue(nonces.isUsed(owner, a), "used nonce reads fresh");
        assertFalse(nonces.isUsed(owner, b), "other nonce of the same owner consumed");
        assertFalse(nonces.isUsed(address(uint160(owner) ^ 1), a), "same nonce of another owner consumed");
    }

    function testFuzz_InvalidateMarksExactlyTheMask(uint256 wordPos, uint256 mask, uint8 bit) public {
        wordPos = bound(wordPos, 0, type(uint248).max);
        vm.prank(address(0xA11CE));
        nonces.invalidate(wordPos, mask);
        uint256 nonce = (wordPos << 8) | bit;
        bool inMask = mask & (uint256(1) << bit) != 0;
        assertEq(nonces.isUsed(address(0xA11CE), nonce), inMask, "bit state differs from mask");
        assertEq(nonces.tryUse(address(0xA11CE), nonce), !inMask, "use after invalidate");
    }

    function test_InvalidateOnlyAffectsTheCaller() public {
        vm.prank(address(0xA11CE));
        nonces.invalidate(0, type(uint256).max);
        assertTrue(nonces.isUsed(address(0xA11CE), 7), "caller's nonce not invalidated");
        assertFalse(nonces.isUsed(address(0xB0B), 7), "another owner's nonce invalidated");
    }
}
