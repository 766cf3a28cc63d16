// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {PaymentChannels} from "../../../contracts/micropayments/PaymentChannels.sol";
import {IPaymentChannels} from "../../../contracts/micropayments/IPaymentChannels.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {BlocklistToken} from "../../../contracts/test/tokens/BlocklistToken.sol";
import {RevertingReceiver} from "../../../contracts/test/actors/RevertingReceiver.sol";

/// Drives PaymentChannels through random sequences of every user action, across native currency,
/// a plain token and a token with a blocklist, with a payee contract that refuses native currency,
/// and records what the invariants need (see README.md in this folder).
contract PaymentChannelsHandler is Test {
    PaymentChannels public immutable channels;
    address[3] public tokens;
    address[3] public payers;
    uint256[3] internal _payerKeys;
    address[3] public payees;
    bytes32[] public ids;
    mapping(bytes32 id => uint256) public highestClaimed;
    mapping(bytes32 id => bool) public everClosed;
    uint256 public violations;

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

    function open(uint256 payerSeed, uint256 payeeSeed, uint256 tokenSeed, uint256 amount, bytes32 salt) external {
        address payer = payers[payerSeed % 3];
        address payee = payees[payeeSeed % 3];
        address token = tokens[tokenSeed % 3];
        amount = bound(amount, 1, 1e30);
        bytes32 id = channels.channelIdOf(payer, payee, token, salt);
        uint256 value = _fund(payer, token, amount);
        vm.prank(payer);
        try channels.open{value: value}(payee, token, address(0), amount, salt) {
            ids.push(id);
        } catch {}
    }

    function topUp(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, 1, 1e30);
        uint256 value = _fund(channel.payer, channel.token, amount);
        vm.prank(channel.payer);
        try channels.topUp{value: value}(id, amount) {} catch {}
    }

    function claim(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, 0, channel.deposit + channel.deposit / 10 + 1);
        try channels.claim(id, amount, _voucher(channel.payer, id, amount)) {
            _recordClaim(id, amount);
        } catch {}
    }

    function claimBatch(uint256 idSeed, uint256 amountA, uint256 amountB) external {
        if (ids.length == 0) return;
        IPaymentChannels.Claim[] memory claims = new IPaymentChannels.Claim[](2);
        for (uint256 i; i < 2; ++i) {
            bytes32 id = ids[(idSeed + i) % ids.length];
            IPaymentChannels.Channel memory channel = channels.getChannel(id);
            uint256 amount = bound(i == 0 ? amountA : amountB, 0, channel.deposit + 1);
            claims[i] = IPaymentChannels.Claim(id, amount, _voucher(channel.payer, id, amount));
        }
        channels.claimBatch(claims);
        for (uint256 i; i < 2; ++i) _recordClaim(claims[i].channelId, channels.getChannel(claims[i].channelId).claimed);
    }

    function close(uint256 idSeed, uint256 amount) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IPaymentChannels.Channel memory channel = channels.getChannel(id);
        amount = bound(amount, channel.claimed, channel.deposit + 1);
        bytes memory signature = _voucher(channel.payer, id, amount);
        vm.prank(channel.payee);
        try channels.close(id, amount, signature) {
            _recordClaim(id, amount);
            everClosed[id] = true;
        } catch {}
    }

    function requestClose(uint256 idSeed) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        vm.prank(channels.getChannel(id).payer);
        try channels.requestClose(id) {} catch {}
    }

    function finalizeClose(uint256 idSeed, uint256 wait) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        vm.warp(block.timestamp + bound(wait, 0, 2 hours));
        try channels.finalizeClose(id) {
            everClosed[id] = true;
        } catch {}
    }

    function setBlocked(uint256 accountSeed, bool blocked) external {
        address account = accountSeed % 2 == 0 ? payees[accountSeed % 3] : payers[accountSeed % 3];
        BlocklistToken(tokens[2]).setBlocked(account, blocked);
    }

    function withdraw(uint256 accountSeed, uint256 tokenSeed) external {
        address account = accountSeed % 2 == 0 ? payees[accountSeed % 3] : payers[accountSeed % 3];
        vm.prank(account);
        try channels.withdraw(tokens[tokenSeed % 3]) {} catch {}
    }

    function _recordClaim(bytes32 id, uint256 claimed) internal {
        if (claimed < highestClaimed[id]) ++violations;
        highestClaimed[id] = claimed;
    }

    function _fund(address payer, address token, uint256 amount) internal returns (uint256 value) {
        if (token == address(0)) {
            vm.deal(payer, payer.balance + amount);
            return amount;
        }
        TestToken(token).mint(payer, amount);
        vm.prank(payer);
        TestToken(token).approve(address(channels), amount);
    }

    function _voucher(address payer, bytes32 id, uint256 amount) internal view returns (bytes memory) {
        for (uint256 i; i < 3; ++i) {
            if (payers[i] == payer) return signDigest(_payerKeys[i], channels.voucherDigest(id, amount));
        }
        return "";
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

    /// Claimed amounts only grow, and a closed channel stays closed.
    function invariant_ClaimsOnlyGrowAndClosedStaysClosed() public view {
        assertEq(handler.violations(), 0, "a claimed amount decreased");
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
