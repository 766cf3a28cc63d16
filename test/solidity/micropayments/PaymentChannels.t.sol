// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {PaymentChannels} from "../../../contracts/micropayments/PaymentChannels.sol";
import {IPaymentChannels} from "../../../contracts/micropayments/IPaymentChannels.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {FeeOnTransferToken} from "../../../contracts/test/tokens/FeeOnTransferToken.sol";

/// Fuzz tests of PaymentChannels' accounting: what a voucher can pay, that claims only grow,
/// and that a closed channel has paid out exactly its deposit. See README.md in this folder.
contract PaymentChannelsFuzzTest is Test {
    uint64 internal constant CHALLENGE_PERIOD = 1 hours;

    PaymentChannels internal channels;
    TestToken internal token;
    address internal payer;
    uint256 internal payerKey;
    address internal payee = address(0xBEEF);

    function setUp() public {
        channels = new PaymentChannels(address(this), CHALLENGE_PERIOD);
        token = new TestToken("Test USD", "TUSD", 18);
        (payer, payerKey) = makeAccount("payer");
    }

    function _open(uint256 deposit, bytes32 salt) internal returns (bytes32 id) {
        token.mint(payer, deposit);
        vm.startPrank(payer);
        token.approve(address(channels), deposit);
        id = channels.open(payee, address(token), address(0), deposit, salt);
        vm.stopPrank();
    }

    function _voucher(bytes32 id, uint256 cumulativeAmount) internal view returns (bytes memory) {
        return signDigest(payerKey, channels.voucherDigest(id, cumulativeAmount));
    }

    /// Whatever vouchers are submitted, the claimed amount never exceeds the deposit, the payee
    /// holds exactly the claimed amount, and a claim succeeds exactly when it raises the claimed
    /// amount without exceeding the deposit.
    function testFuzz_ClaimedNeverExceedsDeposit(uint128 deposit, uint256[6] memory attempts) public {
        deposit = uint128(bound(deposit, 1, type(uint128).max));
        bytes32 id = _open(deposit, bytes32(0));
        for (uint256 i; i < attempts.length; ++i) {
            // Mostly around the deposit, sometimes anything.
            uint256 amount = i % 2 == 0 ? bound(attempts[i], 0, uint256(deposit) + 10) : attempts[i];
            uint256 before = channels.getChannel(id).claimed;
            bool expectedOk = amount > before && amount <= deposit;
            bool ok;
            try channels.claim(id, amount, _voucher(id, amount)) {
                ok = true;
            } catch (bytes memory reason) {
                ok = false;
                // The voucher is correctly signed, so the only reasons to refuse it are its amount.
                bytes memory expected =
                    amount <= before
                        ? abi.encodeWithSelector(
                            IPaymentChannels.PaymentChannelsNothingToClaim.selector,
                            id,
                            amount,
                            before
                        )
                        : abi.encodeWithSelector(
                            IPaymentChannels.PaymentChannelsAmountExceedsDeposit.selector,
                            id,
                            amount,
                            uint256(deposit)
                        );
                assertEq(keccak256(reason), keccak256(expected), "claim refused for another reason");
            }
            assertEq(ok, expectedOk, "claim outcome");
            IPaymentChannels.Channel memory channel = channels.getChannel(id);
            assertLe(channel.claimed, channel.deposit, "claimed > deposit");
            assertEq(token.balanceOf(payee), channel.claimed, "payee holds the claimed amount");
            assertEq(token.balanceOf(address(channels)), channel.deposit - channel.claimed, "contract holds the rest");
        }
    }

    /// The claimed amount only grows: an older (smaller or equal) voucher can never lower it or pay again.
    function testFuzz_CumulativeAmountsOnlyGrow(uint96 deposit, uint96[8] memory amounts) public {
        vm.assume(deposit > 0);
        bytes32 id = _open(deposit, bytes32(uint256(1)));
        uint256 highest;
        for (uint256 i; i < amounts.length; ++i) {
            uint256 amount = bound(amounts[i], 1, deposit);
            uint256 before = channels.getChannel(id).claimed;
            try channels.claim(id, amount, _voucher(id, amount)) {
                assertGe(amount, before + 1, "a voucher not above the claimed amount paid");
            } catch (bytes memory reason) {
                // Within the deposit and correctly signed: only a voucher not above the claimed amount fails.
                bytes memory expected = abi.encodeWithSelector(
                    IPaymentChannels.PaymentChannelsNothingToClaim.selector,
                    id,
                    amount,
                    before
                );
                assertEq(keccak256(reason), keccak256(expected), "claim refused for another reason");
            }
            uint256 claimed = channels.getChannel(id).claimed;
            assertGe(claimed, highest, "claimed decreased");
            if (amount > highest) highest = amount;
            assertEq(claimed, highest, "claimed is the highest voucher submitted");
        }
        assertEq(token.balanceOf(payee), highest, "payee paid the highest voucher exactly once");
    }

    /// After the payee's close, payer and payee together received exactly the deposit (open plus
    /// top-ups) and nothing stays in the contract.
    function testFuzz_CloseSplitsExactlyTheDeposit(
        uint128 deposit,
        uint128 topUp,
        uint256 claimed,
        uint256 finalAmount
    ) public {
        deposit = uint128(bound(deposit, 1, type(uint128).max / 2));
        topUp = uint128(bound(topUp, 0, type(uint128).max / 2));
        bytes32 id = _open(deposit, bytes32(uint256(2)));
        if (topUp > 0) {
            token.mint(payer, topUp);
            vm.startPrank(payer);
            token.approve(address(channels), topUp);
            channels.topUp(id, topUp);
            vm.stopPrank();
        }
        uint256 total = uint256(deposit) + topUp;
        claimed = bound(claimed, 0, total);
        if (claimed > 0) channels.claim(id, claimed, _voucher(id, claimed));
        finalAmount = bound(finalAmount, claimed, total);

        bytes memory signature = finalAmount == claimed ? bytes("") : _voucher(id, finalAmount);
        vm.prank(payee);
        channels.close(id, finalAmount, signature);

        assertEq(token.balanceOf(payee), finalAmount, "payee received the final voucher");
        assertEq(token.balanceOf(payer), total - finalAmount, "payer received the rest");
        assertEq(token.balanceOf(payee) + token.balanceOf(payer), total, "payer + payee != deposit");
        assertEq(token.balanceOf(address(channels)), 0, "something stayed locked");
    }

    /// After a requested close is finalized, payer and payee together received exactly the deposit,
    /// including claims made during the challenge period; the native-currency variant.
    function testFuzz_FinalizeSplitsExactlyTheDeposit(uint96 deposit, uint256 claimedInWindow, uint32 wait) public {
        vm.assume(deposit > 0);
        vm.deal(payer, deposit);
        vm.prank(payer);
        bytes32 id = channels.open{value: deposit}(payee, address(0), address(0), deposit, bytes32(uint256(3)));
        vm.prank(payer);
        channels.requestClose(id);
        claimedInWindow = bound(claimedInWindow, 0, deposit);
        if (claimedInWindow > 0) channels.claim(id, claimedInWindow, _voucher(id, claimedInWindow));
        vm.warp(block.timestamp + CHALLENGE_PERIOD + bound(wait, 0, 365 days));
        channels.finalizeClose(id);

        assertEq(payee.balance, claimedInWindow, "payee received its claims");
        assertEq(payer.balance, deposit - claimedInWindow, "payer received the rest");
        assertEq(address(channels).balance, 0, "something stayed locked");
    }

    /// A voucher is bound to its channel: the same signature never pays on another channel.
    function testFuzz_VoucherWorthlessOnAnotherChannel(bytes32 saltA, bytes32 saltB, uint96 amount) public {
        vm.assume(saltA != saltB && amount > 0);
        bytes32 a = _open(amount, saltA);
        bytes32 b = _open(amount, saltB);
        bytes memory forA = _voucher(a, amount);
        vm.expectRevert(abi.encodeWithSelector(IPaymentChannels.PaymentChannelsInvalidSignature.selector, b, payer));
        channels.claim(b, amount, forA);
        channels.claim(a, amount, forA);
        assertEq(token.balanceOf(payee), amount, "paid once, on its own channel");
    }

    /// A voucher is bound to the chain: after a fork (another chain id) it is worthless.
    function testFuzz_VoucherWorthlessOnAnotherChain(uint96 amount, uint64 otherChainId) public {
        vm.assume(amount > 0 && otherChainId != block.chainid && otherChainId != 0);
        bytes32 id = _open(amount, bytes32(uint256(4)));
        bytes memory voucher = _voucher(id, amount);
        vm.chainId(otherChainId);
        vm.expectRevert(abi.encodeWithSelector(IPaymentChannels.PaymentChannelsInvalidSignature.selector, id, payer));
        channels.claim(id, amount, voucher);
    }

    /// Fee-on-transfer tokens: the deposit is what arrived, and it is all that can ever be claimed:
    /// a voucher for one unit more is rejected whole, a voucher for exactly what arrived pays it out
    /// (the token burns its fee again on the way to the payee) and leaves the contract nothing.
    function testFuzz_FeeOnTransferDepositIsWhatArrived(uint96 amount, uint16 feeBps) public {
        feeBps = uint16(bound(feeBps, 0, 5_000));
        vm.assume(amount > 0);
        FeeOnTransferToken fot = new FeeOnTransferToken(feeBps);
        fot.mint(payer, amount);
        vm.startPrank(payer);
        fot.approve(address(channels), amount);
        bytes32 id = channels.open(payee, address(fot), address(0), amount, bytes32(uint256(5)));
        vm.stopPrank();
        uint256 arrived = fot.balanceOf(address(channels));
        assertEq(channels.getChannel(id).deposit, arrived, "deposit != what arrived");
        assertEq(arrived, amount - (uint256(amount) * feeBps) / 10_000, "arrived");

        // One unit above what arrived (a correctly signed voucher): rejected whole.
        bytes memory aboveDeposit = _voucher(id, arrived + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsAmountExceedsDeposit.selector,
                id,
                arrived + 1,
                arrived
            )
        );
        channels.claim(id, arrived + 1, aboveDeposit);
        assertEq(channels.getChannel(id).claimed, 0, "a rejected voucher claimed something");
        assertEq(fot.balanceOf(address(channels)), arrived, "a rejected voucher moved tokens");

        // Exactly what arrived: paid out in full; the payee receives it less the token's own fee.
        channels.claim(id, arrived, _voucher(id, arrived));
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        assertEq(channel.claimed, arrived, "claimed != what arrived");
        assertEq(channel.deposit, arrived, "deposit changed");
        assertEq(fot.balanceOf(payee), arrived - (arrived * feeBps) / 10_000, "payee received");
        assertEq(fot.balanceOf(address(channels)), 0, "the contract kept something");
        assertEq(channels.owed(payee, address(fot)), 0, "payout deferred");
    }
}
