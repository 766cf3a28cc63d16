// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {OutcomeLedger} from "../utils/OutcomeLedger.sol";
import {PaymentChannels} from "../../../contracts/micropayments/PaymentChannels.sol";
import {IPaymentChannels} from "../../../contracts/micropayments/IPaymentChannels.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {BlocklistToken} from "../../../contracts/test/tokens/BlocklistToken.sol";
import {RevertingReceiver} from "../../../contracts/test/actors/RevertingReceiver.sol";
import {Payouts} from "../../../contracts/libraries/Payouts.sol";

/// Drives PaymentChannels through random sequences of every user action, across native currency,
/// a plain token and a token with a blocklist, with a payee contract that refuses native currency,
/// and records what the invariants need (see README.md in this folder). Salts come from a set of
/// four, so the same payer, payee, token and salt recur and ids in use (closed ones included) are
/// opened again; `reopen` retries the exact parameters of a known channel.
/// Every action predicts its outcome from the contract's rules and the channel's state, and counts
/// any other outcome in `unexpectedOutcomes` instead of reverting (with `failOnRevert: false` a
/// revert would discard the evidence); successful actions are counted per kind.
contract PaymentChannelsHandler is Test, OutcomeLedger {
    PaymentChannels public immutable channels;
    address[3] public tokens;
    address[3] public payers;
    uint256[3] internal _payerKeys;
    address[3] public payees;
    bytes32[] public ids;
    mapping(bytes32 id => bytes32) public saltOf;
    mapping(bytes32 id => uint256) public highestClaimed;
    mapping(bytes32 id => bool) public everClosed;
    uint256 public violations;
    /// @dev Set when an `open` succeeded on an id that had been closed.
    bool public closedIdReopened;

    // Successful actions, so a run (and `test_HandlerReachesEveryAction`) can show it did something.
    uint256 public opens;
    uint256 public reopenRefusals;
    uint256 public topUps;
    uint256 public claims;
    uint256 public batchClaims;
    uint256 public closes;
    uint256 public closeRequests;
    uint256 public finalizations;
    uint256 public withdrawals;

    constructor(PaymentChannels channels_, address[3] memory tokens_, address[3] memory payees_) {
        channels = channels_;
        tokens = tokens_;
        payees = payees_;
        for (uint256 i; i < 3; ++i) {
            (payers[i], _payerKeys[i]) = makeAccount(string.concat("payer", _digit(i)));
        }
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function open(uint256 payerSeed, uint256 payeeSeed, uint256 tokenSeed, uint256 amount, uint256 saltSeed) external {
        _open(payers[payerSeed % 3], payees[payeeSeed % 3], tokens[tokenSeed % 3], amount, bytes32(saltSeed % 4));
    }

    /// @notice Opens a known channel's id again (same payer, payee, token and salt): always refused
    /// with `PaymentChannelsChannelExists`, for a closed id as for a live one.
    function reopen(uint256 idSeed, uint256 amount) public {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        _open(channel.payer, channel.payee, channel.token, amount, saltOf[id]);
    }

    function topUp(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, 1, 1e30);
        bytes memory expected =
            _isLive(channel) ? _blockedPayer(channel.payer, channel.token) : _notOpen(id, channel.status);
        uint256 value = _fund(channel.payer, channel.token, amount);
        vm.prank(channel.payer);
        try channels.topUp{value: value}(id, amount) {
            ++topUps;
            _expectSuccess(expected, "topUp");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "topUp");
        }
    }

    function claim(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, 0, channel.deposit + channel.deposit / 10 + 1);
        bytes memory expected;
        if (!_isLive(channel)) {
            expected = _notOpen(id, channel.status);
        } else if (amount <= channel.claimed) {
            expected = abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsNothingToClaim.selector,
                id,
                amount,
                channel.claimed
            );
        } else if (amount > channel.deposit) {
            expected = abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsAmountExceedsDeposit.selector,
                id,
                amount,
                channel.deposit
            );
        }
        try channels.claim(id, amount, _voucher(channel.payer, id, amount)) {
            ++claims;
            _expectSuccess(expected, "claim");
            _recordClaim(id, amount);
        } catch (bytes memory reason) {
            _expectError(reason, expected, "claim");
        }
    }

    function claimBatch(uint256 idSeed, uint256 amountA, uint256 amountB) external {
        if (ids.length == 0) return;
        IPaymentChannels.Claim[] memory batch = new IPaymentChannels.Claim[](2);
        uint256 expectedClaims;
        for (uint256 i; i < 2; ++i) {
            bytes32 id = ids[(idSeed + i) % ids.length];
            IPaymentChannels.Channel memory channel = channels.getChannel(id);
            uint256 amount = bound(i == 0 ? amountA : amountB, 0, channel.deposit + 1);
            batch[i] = IPaymentChannels.Claim(id, amount, _voucher(channel.payer, id, amount));
            // The second claim sees the first one when both are on the same channel.
            uint256 claimed = channel.claimed;
            if (i == 1 && id == batch[0].channelId && expectedClaims == 1) claimed = batch[0].cumulativeAmount;
            if (_isLive(channel) && amount > claimed && amount <= channel.deposit) ++expectedClaims;
        }
        uint256 succeeded = channels.claimBatch(batch);
        batchClaims += succeeded;
        if (succeeded != expectedClaims)
            _unexpected("claimBatch settled another number of claims than its rules allow");
        for (uint256 i; i < 2; ++i) _recordClaim(batch[i].channelId, channels.getChannel(batch[i].channelId).claimed);
    }

    function close(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, channel.claimed, channel.deposit + 1);
        bytes memory expected;
        if (!_isLive(channel)) {
            expected = _notOpen(id, channel.status);
        } else if (amount > channel.deposit) {
            expected = abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsAmountExceedsDeposit.selector,
                id,
                amount,
                channel.deposit
            );
        }
        bytes memory signature = _voucher(channel.payer, id, amount);
        vm.prank(channel.payee);
        try channels.close(id, amount, signature) {
            ++closes;
            _expectSuccess(expected, "close");
            _recordClaim(id, amount);
            everClosed[id] = true;
        } catch (bytes memory reason) {
            _expectError(reason, expected, "close");
        }
    }

    function requestClose(uint256 idSeed) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        bytes memory expected;
        if (channel.status == IPaymentChannels.ChannelStatus.Closing) {
            expected = abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsCloseAlreadyRequested.selector,
                id,
                channel.closeRequestedAt
            );
        } else if (channel.status != IPaymentChannels.ChannelStatus.Open) {
            expected = _notOpen(id, channel.status);
        }
        vm.prank(channel.payer);
        try channels.requestClose(id) {
            ++closeRequests;
            _expectSuccess(expected, "requestClose");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "requestClose");
        }
    }

    function finalizeClose(uint256 idSeed, uint256 wait) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        vm.warp(block.timestamp + bound(wait, 0, 2 hours));
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        uint256 closesAt = uint256(channel.closeRequestedAt) + channels.challengePeriod();
        bytes memory expected;
        if (channel.status == IPaymentChannels.ChannelStatus.Open) {
            expected = abi.encodeWithSelector(IPaymentChannels.PaymentChannelsCloseNotRequested.selector, id);
        } else if (channel.status != IPaymentChannels.ChannelStatus.Closing) {
            expected = _notOpen(id, channel.status);
        } else if (block.timestamp < closesAt) {
            expected = abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsChallengePeriodActive.selector,
                id,
                closesAt
            );
        }
        try channels.finalizeClose(id) {
            ++finalizations;
            _expectSuccess(expected, "finalizeClose");
            everClosed[id] = true;
        } catch (bytes memory reason) {
            _expectError(reason, expected, "finalizeClose");
        }
    }

    function setBlocked(uint256 accountSeed, bool blocked) external {
        address account = accountSeed % 2 == 0 ? payees[accountSeed % 3] : payers[accountSeed % 3];
        BlocklistToken(tokens[2]).setBlocked(account, blocked);
    }

    function withdraw(uint256 accountSeed, uint256 tokenSeed) external {
        address account = accountSeed % 2 == 0 ? payees[accountSeed % 3] : payers[accountSeed % 3];
        address token = tokens[tokenSeed % 3];
        uint256 owed = channels.owed(account, token);
        bytes memory expected;
        if (owed == 0) {
            expected = abi.encodeWithSelector(Payouts.PayoutsNothingOwed.selector, account, token);
        } else if (token == address(0) && account.code.length != 0) {
            // The only contract among the accounts is the payee that refuses native currency.
            expected = abi.encodeWithSelector(Payouts.PayoutsNativeTransferFailed.selector, account, owed);
        } else if (token == tokens[2] && BlocklistToken(token).blocked(account)) {
            expected = abi.encodeWithSelector(BlocklistToken.Blocked.selector, account);
        }
        vm.prank(account);
        try channels.withdraw(token) returns (uint256 paid) {
            ++withdrawals;
            _expectSuccess(expected, "withdraw");
            if (paid != owed || channels.owed(account, token) != 0) _unexpected("withdraw paid other than owed");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "withdraw");
        }
    }

    /// @dev Opens a channel, predicting the outcome: a fresh id opens, an id in use (open,
    /// closing or closed) is refused with `PaymentChannelsChannelExists`.
    function _open(address payer, address payee, address token, uint256 amount, bytes32 salt) internal {
        amount = bound(amount, 1, 1e30);
        bytes32 id = channels.channelIdOf(payer, payee, token, salt);
        IPaymentChannels.ChannelStatus status = channels.getChannel(id).status;
        bytes memory expected;
        if (status != IPaymentChannels.ChannelStatus.None) {
            expected = abi.encodeWithSelector(IPaymentChannels.PaymentChannelsChannelExists.selector, id, status);
        } else {
            expected = _blockedPayer(payer, token);
        }
        uint256 value = _fund(payer, token, amount);
        vm.prank(payer);
        try channels.open{value: value}(payee, token, address(0), amount, salt) returns (bytes32 opened) {
            ++opens;
            if (everClosed[id] || status == IPaymentChannels.ChannelStatus.Closed) closedIdReopened = true;
            _expectSuccess(expected, "open");
            if (opened != id) _unexpected("open returned another id");
            if (status == IPaymentChannels.ChannelStatus.None) {
                ids.push(id);
                saltOf[id] = salt;
            }
        } catch (bytes memory reason) {
            _expectError(reason, expected, "open");
            if (status == IPaymentChannels.ChannelStatus.Closed) ++reopenRefusals;
        }
    }

    function _recordClaim(bytes32 id, uint256 claimed) internal {
        if (claimed < highestClaimed[id]) ++violations;
        highestClaimed[id] = claimed;
    }

    /// @dev Gives `payer` `amount` of `token` and approves the contract for it; returns the value
    /// to send. A payer blocked by the blocklist token cannot receive it (nor send it, see
    /// {_blockedPayer}), so is only approved.
    function _fund(address payer, address token, uint256 amount) internal returns (uint256 value) {
        if (token == address(0)) {
            vm.deal(payer, payer.balance + amount);
            return amount;
        }
        if (token != tokens[2] || !BlocklistToken(token).blocked(payer)) TestToken(token).mint(payer, amount);
        vm.prank(payer);
        TestToken(token).approve(address(channels), amount);
    }

    function _voucher(address payer, bytes32 id, uint256 amount) internal view returns (bytes memory) {
        for (uint256 i; i < 3; ++i) {
            if (payers[i] == payer) return signDigest(_payerKeys[i], channels.voucherDigest(id, amount));
        }
        return "";
    }

    /// @dev The error taking funds from `payer` reverts with: the blocklist token's `Blocked` when
    /// it blocks the payer, otherwise none.
    function _blockedPayer(address payer, address token) internal view returns (bytes memory) {
        if (token == tokens[2] && BlocklistToken(token).blocked(payer)) {
            return abi.encodeWithSelector(BlocklistToken.Blocked.selector, payer);
        }
        return "";
    }

    function _isLive(IPaymentChannels.Channel memory channel) internal pure returns (bool) {
        return
            channel.status == IPaymentChannels.ChannelStatus.Open ||
            channel.status == IPaymentChannels.ChannelStatus.Closing;
    }

    function _notOpen(bytes32 id, IPaymentChannels.ChannelStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentChannels.PaymentChannelsChannelNotOpen.selector, id, status);
    }

    function _digit(uint256 i) internal pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }
}

/// Invariants of PaymentChannels under random sequences of every action (see README.md).
contract PaymentChannelsInvariantTest is Test {
    PaymentChannels internal channels;
    PaymentChannelsHandler internal handler;
    address[3] internal tokens;
    address[3] internal payees;

    function setUp() public {
        channels = new PaymentChannels(address(this), 1 hours);
        tokens = [address(0), address(new TestToken("Test USD", "TUSD", 18)), address(new BlocklistToken())];
        payees = [address(0xBEEF), address(0xCAFE), address(new RevertingReceiver())];
        handler = new PaymentChannelsHandler(channels, tokens, payees);
        targetContract(address(handler));
    }

    /// Per token, the contract holds at least what open channels still lock plus what it owes.
    function invariant_ContractHoldsLockedPlusOwed() public view {
        for (uint256 t; t < 3; ++t) {
            (uint256 locked, uint256 owed) = _liabilities(tokens[t]);
            assertGe(_balance(tokens[t]), locked + owed, "balance < locked + owed");
        }
    }

    /// Nothing else stays in the contract: once channels close, their funds have left or are owed.
    function invariant_NothingElseStaysLocked() public view {
        for (uint256 t; t < 3; ++t) {
            (uint256 locked, uint256 owed) = _liabilities(tokens[t]);
            assertEq(_balance(tokens[t]), locked + owed, "balance != locked + owed");
        }
    }

    /// Every channel's claimed amount is at most its deposit.
    function invariant_ClaimedNeverExceedsDeposit() public view {
        uint256 count = handler.idCount();
        for (uint256 i; i < count; ++i) {
            IPaymentChannels.Channel memory channel = channels.getChannel(handler.ids(i));
            assertLe(channel.claimed, channel.deposit, "claimed > deposit");
        }
    }

    /// Claimed amounts only grow, and a closed channel stays closed: its id can never be opened
    /// again (the handler reopens ids in use, closed ones included, and records any success).
    function invariant_ClaimsOnlyGrowAndClosedStaysClosed() public view {
        assertEq(handler.violations(), 0, "a claimed amount decreased");
        assertFalse(handler.closedIdReopened(), "a closed channel id was opened again");
        uint256 count = handler.idCount();
        for (uint256 i; i < count; ++i) {
            bytes32 id = handler.ids(i);
            IPaymentChannels.Channel memory channel = channels.getChannel(id);
            assertGe(channel.claimed, handler.highestClaimed(id), "claimed below a recorded claim");
            if (handler.everClosed(id)) {
                assertTrue(channel.status == IPaymentChannels.ChannelStatus.Closed, "closed channel reopened");
            }
        }
    }

    /// Every action has the outcome the contract's rules give it in the channel's state: it
    /// succeeds exactly when allowed, and otherwise reverts with the custom error (arguments
    /// included) its rules name; a batch settles exactly the claims that are allowed; a correctly
    /// signed voucher is never refused for its signature.
    function invariant_EveryActionHasTheExpectedOutcome() public view {
        assertEq(
            handler.unexpectedOutcomes(),
            0,
            string.concat("unexpected outcome, first: ", handler.firstUnexpected())
        );
    }

    /// After every run: every id the handler recorded was really opened with the salt it noted,
    /// and as many channels read Closed as closes and finalizations succeeded. Then every closed
    /// id is opened again, which must be refused each time. (The invariants themselves are not
    /// re-run here: a failure in `afterInvariant` is reported under every invariant, which would
    /// blur which one broke.)
    function afterInvariant() public {
        uint256 count = handler.idCount();
        assertEq(handler.opens(), count, "opens != recorded ids");
        uint256 closed;
        for (uint256 i; i < count; ++i) {
            bytes32 id = handler.ids(i);
            IPaymentChannels.Channel memory channel = channels.getChannel(id);
            assertTrue(channel.status != IPaymentChannels.ChannelStatus.None, "a recorded id was never opened");
            assertEq(
                channels.channelIdOf(channel.payer, channel.payee, channel.token, handler.saltOf(id)),
                id,
                "recorded salt"
            );
            if (channel.status == IPaymentChannels.ChannelStatus.Closed) ++closed;
        }
        assertEq(closed, handler.closes() + handler.finalizations(), "closed channels != closes + finalizations");
        uint256 refusals = handler.reopenRefusals();
        for (uint256 i; i < count; ++i) {
            if (channels.getChannel(handler.ids(i)).status == IPaymentChannels.ChannelStatus.Closed)
                handler.reopen(i, 1);
        }
        assertEq(handler.reopenRefusals(), refusals + closed, "a closed id was not refused");
    }

    /// The handler's actions work: a fixed sequence drives every one of them to succeed at least
    /// once (and a closed id to be opened again, refused), with every outcome as predicted. Fails
    /// when a helper breaks (a wrong voucher domain or key makes every claim and close fail).
    function test_HandlerReachesEveryAction() public {
        handler.open(0, 0, 1, 1_000, 0);
        handler.topUp(0, 500);
        handler.claim(0, 400);
        handler.claimBatch(0, 600, 700);
        handler.requestClose(0);
        handler.finalizeClose(0, 2 hours);
        handler.reopen(0, 100);
        handler.open(0, 0, 1, 1_000, 4); // salt 4 % 4 == 0: the same, closed, id
        handler.open(1, 1, 2, 1_000, 1);
        handler.setBlocked(4, true); // the payee of the blocklist-token channel
        handler.close(1, 800); // its payout is deferred to `owed`
        handler.setBlocked(4, false);
        handler.withdraw(4, 2);

        assertEq(handler.opens(), 2, "opens");
        assertEq(handler.reopenRefusals(), 2, "closed ids refused");
        assertEq(handler.topUps(), 1, "top-ups");
        assertEq(handler.claims(), 1, "claims");
        assertEq(handler.batchClaims(), 2, "batch claims");
        assertEq(handler.closeRequests(), 1, "close requests");
        assertEq(handler.finalizations(), 1, "finalizations");
        assertEq(handler.closes(), 1, "closes");
        assertEq(handler.withdrawals(), 1, "withdrawals");
        assertEq(TestToken(tokens[2]).balanceOf(payees[1]), 800, "deferred payout withdrawn");
        _checkInvariants();
        afterInvariant();
    }

    function _checkInvariants() internal view {
        invariant_ContractHoldsLockedPlusOwed();
        invariant_NothingElseStaysLocked();
        invariant_ClaimedNeverExceedsDeposit();
        invariant_ClaimsOnlyGrowAndClosedStaysClosed();
        invariant_EveryActionHasTheExpectedOutcome();
    }

    function _liabilities(address token) internal view returns (uint256 locked, uint256 owed) {
        uint256 count = handler.idCount();
        for (uint256 i; i < count; ++i) {
            IPaymentChannels.Channel memory channel = channels.getChannel(handler.ids(i));
            bool live =
                channel.status == IPaymentChannels.ChannelStatus.Open ||
                    channel.status == IPaymentChannels.ChannelStatus.Closing;
            if (channel.token == token && live) locked += channel.deposit - channel.claimed;
        }
        for (uint256 a; a < 3; ++a) {
            owed += channels.owed(handler.payers(a), token) + channels.owed(payees[a], token);
        }
    }

    function _balance(address token) internal view returns (uint256) {
        return token == address(0) ? address(channels).balance : TestToken(token).balanceOf(address(channels));
    }
}
