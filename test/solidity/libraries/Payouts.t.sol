// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {PayoutsHarness} from "../../../contracts/test/harness/PayoutsHarness.sol";
import {BlocklistToken} from "../../../contracts/test/tokens/BlocklistToken.sol";
import {RevertingReceiver} from "../../../contracts/test/actors/RevertingReceiver.sol";

contract PayoutsTest is Test {
    PayoutsHarness internal payouts;
    BlocklistToken internal token;
    RevertingReceiver internal rejecter;

    function setUp() public {
        payouts = new PayoutsHarness();
        token = new BlocklistToken();
        rejecter = new RevertingReceiver();
    }

    /// Whatever the recipient does, a payout either reaches it or is owed to it: the amount is
    /// never lost and never doubled.
    function testFuzz_NativePayoutIsReceivedOrOwed(uint96 amount, bool recipientRejects) public {
        address to = recipientRejects ? address(rejecter) : address(0xBEEF);
        vm.deal(address(payouts), amount);
        uint256 before = to.balance;
        bool pushed = payouts.pay(address(0), to, amount);
        uint256 received = to.balance - before;
        uint256 owed = payouts.owed(to, address(0));
        assertEq(received + owed, amount, "received + owed != amount");
        assertEq(pushed ? received : owed, amount, "pushed flag disagrees with balances");
        assertEq(address(payouts).balance, owed, "contract keeps exactly what is owed");
    }

    function testFuzz_TokenPayoutIsReceivedOrOwed(uint128 amount, bool blocked) public {
        token.mint(address(payouts), amount);
        token.setBlocked(address(0xBEEF), blocked);
        payouts.pay(address(token), address(0xBEEF), amount);
        uint256 owed = payouts.owed(address(0xBEEF), address(token));
        assertEq(token.balanceOf(address(0xBEEF)) + owed, amount, "received + owed != amount");
        assertEq(owed, amount > 0 && blocked ? amount : 0, "owed only when blocked");
    }

    function testFuzz_OwedCanBePulledOnceUnblocked(uint128 amount) public {
        vm.assume(amount > 0);
        token.mint(address(payouts), amount);
        token.setBlocked(address(0xBEEF), true);
        payouts.pay(address(token), address(0xBEEF), amount);
        token.setBlocked(address(0xBEEF), false);
        vm.prank(address(0xBEEF));
        assertEq(payouts.withdraw(address(token)), amount, "withdrawn amount");
        assertEq(token.balanceOf(address(0xBEEF)), amount, "recipient balance");
        assertEq(payouts.owed(address(0xBEEF), address(token)), 0, "owed cleared");
    }
}
