// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {Escrow} from "../../../contracts/escrow/Escrow.sol";
import {IEscrow} from "../../../contracts/escrow/IEscrow.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";

/// @notice Fuzz tests of Escrow's arithmetic: payouts never exceed what remains, the fee split is
/// exact over the whole 128-bit range, larger amounts are refused, and signed cumulative totals
/// never pay twice.
contract EscrowFuzzTest is Test {
    Escrow internal escrow;
    TestToken internal token;
    address internal payer;
    uint256 internal payerKey;
    address internal constant PAYEE = address(0xBEEF);
    address internal constant ARBITER = address(0xA4B);
    address internal constant FEE_RECIPIENT = address(0xFEE);
    uint64 internal constant TIMEOUT = 1 days;

    function setUp() public {
        escrow = new Escrow(address(this), FEE_RECIPIENT, 50, TIMEOUT);
        token = new TestToken("Test", "TST", 18);
        (payer, payerKey) = makeAccount("payer");
    }

    function _create(uint256 amount) internal returns (uint256 id) {
        token.mint(payer, amount);
        vm.startPrank(payer);
        token.approve(address(escrow), amount);
        id = escrow.create(
            IEscrow.CreateParams({
                payee: PAYEE,
                arbiter: ARBITER,
                token: address(token),
                amount: amount,
                deadline: uint64(block.timestamp + 1 days),
                onExpiry: IEscrow.ExpiryAction.RefundPayer,
                ref: bytes32(0)
            })
        );
        vm.stopPrank();
    }

    /// Paid to the payee side so far: what the payee received plus the fee recipient's owed balance.
    function _payeeSide() internal view returns (uint256) {
        return token.balanceOf(PAYEE) + escrow.owed(FEE_RECIPIENT, address(token));
    }

    function testFuzz_ReleaseNeverExceedsRemaining(uint128 amount, uint256 first, uint256 second) public {
        amount = uint128(bound(amount, 1, type(uint128).max));
        uint256 id = _create(amount);
        first = bound(first, 1, amount);
        vm.prank(payer);
        escrow.release(id, first);
        uint256 left = amount - first;
        assertEq(escrow.remaining(id), left, "remaining after release");

        if (second == 0) {
            vm.expectRevert(
                left == 0
                    ? abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id)
                    : abi.encodeWithSelector(IEscrow.EscrowZeroAmount.selector)
            );
        } else if (left == 0) {
            vm.expectRevert(abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id));
        } else if (second > left) {
            vm.expectRevert(abi.encodeWithSelector(IEscrow.EscrowAmountExceedsRemaining.selector, id, second, left));
        }
        vm.prank(payer);
        escrow.release(id, second);
        uint256 paid = second != 0 && second <= left ? first + second : first;
        assertEq(escrow.remaining(id), amount - paid, "remaining after second release");
        assertEq(_payeeSide(), paid, "payee + fee != released");
        assertEq(
            token.balanceOf(address(escrow)),
            escrow.remaining(id) + escrow.owed(FEE_RECIPIENT, address(token)),
            "books"
        );
    }

    function testFuzz_RefundNeverExceedsRemaining(uint128 amount, uint256 refunded, uint256 more) public {
        amount = uint128(bound(amount, 1, type(uint128).max));
        uint256 id = _create(amount);
        refunded = bound(refunded, 1, amount);
        vm.prank(PAYEE);
        escrow.refund(id, refunded);
        uint256 left = amount - refunded;
        more = bound(more, left + 1, type(uint256).max);
        vm.expectRevert(
            left == 0
                ? abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id)
                : abi.encodeWithSelector(IEscrow.EscrowAmountExceedsRemaining.selector, id, more, left)
        );
        vm.prank(PAYEE);
        escrow.refund(id, more);
        assertEq(token.balanceOf(payer), refunded, "payer got more or less than refunded");
        assertEq(escrow.remaining(id), left, "remaining");
    }

    function testFuzz_FeeMathExactUpTo128Bits(uint256 amount, uint16 feeBps, uint256 part) public {
        amount = bound(amount, 1, type(uint128).max);
        feeBps = uint16(bound(feeBps, 0, escrow.MAX_FEE_BPS()));
        escrow.setFee(feeBps);
        uint256 id = _create(amount);
        part = bound(part, 1, amount);
        vm.startPrank(payer);
        escrow.release(id, part);
        if (part < amount) escrow.release(id, amount - part);
        vm.stopPrank();
        uint256 fee = escrow.owed(FEE_RECIPIENT, address(token));
        uint256 expectedFee = (part * feeBps) / 10_000 + ((amount - part) * feeBps) / 10_000;
        assertEq(fee, expectedFee, "fee");
        assertEq(token.balanceOf(PAYEE) + fee, amount, "payee + fee != released");
        assertEq(escrow.getEscrow(id).released, amount, "released");
    }

    function testFuzz_ResolveSplitsExactly(uint256 amount, uint256 toPayee) public {
        amount = bound(amount, 1, type(uint128).max);
        uint256 id = _create(amount);
        toPayee = bound(toPayee, 0, amount);
        vm.prank(PAYEE);
        escrow.dispute(id);
        vm.prank(ARBITER);
        escrow.resolve(id, toPayee);
        assertEq(_payeeSide(), toPayee, "payee side");
        assertEq(token.balanceOf(payer), amount - toPayee, "payer side");
        assertEq(escrow.remaining(id), 0, "remaining");
    }

    function testFuzz_AmountAbove128BitsReverts(uint256 amount) public {
        amount = bound(amount, uint256(type(uint128).max) + 1, type(uint256).max);
        token.mint(payer, amount);
        vm.startPrank(payer);
        token.approve(address(escrow), amount);
        vm.expectRevert(abi.encodeWithSelector(IEscrow.EscrowAmountTooLarge.selector, amount));
        escrow.create(
            IEscrow.CreateParams({
                payee: PAYEE,
                arbiter: address(0),
                token: address(token),
                amount: amount,
                deadline: uint64(block.timestamp + 1),
                onExpiry: IEscrow.ExpiryAction.RefundPayer,
                ref: bytes32(0)
            })
        );
        vm.stopPrank();
        assertEq(token.balanceOf(address(escrow)), 0, "nothing taken");
    }

    function testFuzz_SignedTotalsNeverPayTwice(uint128 amount, uint256 totalA, uint256 totalB) public {
        amount = uint128(bound(amount, 1, type(uint128).max));
        uint256 id = _create(amount);
        totalA = bound(totalA, 1, uint256(amount) * 2);
        totalB = bound(totalB, 1, uint256(amount) * 2);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sigA = signDigest(payerKey, escrow.releaseDigest(id, totalA, deadline));
        bytes memory sigB = signDigest(payerKey, escrow.releaseDigest(id, totalB, deadline));

        escrow.releaseWithSig(id, totalA, deadline, sigA);
        uint256 expected = totalA < amount ? totalA : amount;
        assertEq(_payeeSide(), expected, "first signature");

        // B pays only what it adds over A; A again pays nothing.
        uint256 released = escrow.getEscrow(id).released;
        if (escrow.remaining(id) == 0) {
            vm.expectRevert(abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id));
        } else if (totalB <= released) {
            vm.expectRevert(abi.encodeWithSelector(IEscrow.EscrowNothingToRelease.selector, id, totalB, released));
        }
        escrow.releaseWithSig(id, totalB, deadline, sigB);
        uint256 max = totalA > totalB ? totalA : totalB;
        expected = max < amount ? max : amount;
        assertEq(_payeeSide(), expected, "second signature");

        released = escrow.getEscrow(id).released;
        vm.expectRevert(
            escrow.remaining(id) == 0
                ? abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id)
                : abi.encodeWithSelector(IEscrow.EscrowNothingToRelease.selector, id, totalA, released)
        );
        escrow.releaseWithSig(id, totalA, deadline, sigA);
        assertEq(_payeeSide(), expected, "replay paid");
    }
}
