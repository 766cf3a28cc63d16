// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC1271Wallet} from "../../../contracts/test/actors/ERC1271Wallet.sol";
import {FeeOnTransferToken} from "../../../contracts/test/tokens/FeeOnTransferToken.sol";
import {ISettlementHub} from "../../../contracts/settlement/ISettlementHub.sol";
import {SettlementHub} from "../../../contracts/settlement/SettlementHub.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {OutcomeLedger} from "../utils/OutcomeLedger.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives a SettlementHub for the invariant tests: several accounts (four EOAs and an
/// ERC-1271 wallet) deposit native currency, a plain and a fee-on-transfer token (now and then up
/// to the 128-bit limit, and once there one unit more), pay each other with single intents and
/// batches (some expired, wrongly signed, over balance or reusing nonces), request and complete
/// withdrawals and invalidate nonces. Ghost variables record what went in, what came out (measured
/// at the hub), which nonces settled and how many actions of each kind succeeded.
/// @dev The handler never reverts on a contract misbehaving (with `failOnRevert: false` a revert
/// would discard the evidence): every action predicts its outcome from the hub's rules and state,
/// and any other outcome is counted in `unexpectedOutcomes` for an invariant to report.
contract SettlementHubHandler is Test, OutcomeLedger {
    uint256 internal constant ACCOUNTS = 5;
    uint256 internal constant MAX_BALANCE = type(uint128).max;

    SettlementHub public immutable hub;
    address[3] public tokens;
    address[ACCOUNTS] public accounts;
    /// @dev The key that signs for each account (the wallet's owner signs for the wallet).
    uint256[ACCOUNTS] internal _keys;

    mapping(address token => uint256) public credited;
    /// @dev Per token, what withdrawals took out of the hub, measured as the drop of the hub's own
    /// holdings (not the amount `withdraw` returned).
    mapping(address token => uint256) public withdrawn;
    mapping(address from => mapping(uint256 nonce => uint256)) public settledCount;
    bool public nonceSettledTwice;
    uint256 public settledIntents;
    uint256 public failedIntents;
    uint256 public submittedIntents;

    // Successful actions, so a run (and `test_HandlerReachesEveryAction`) can show it did something.
    uint256 public deposits;
    uint256 public balancesToppedToLimit;
    uint256 public tooLargeRefusals;
    uint256 public singleSettlements;
    uint256 public batchesWithSettlement;
    uint256 public withdrawalRequests;
    uint256 public withdrawals;
    uint256 public invalidations;

    constructor(SettlementHub hub_) {
        hub = hub_;
        tokens = [address(0), address(new TestToken("USD Coin", "USDC", 6)), address(new FeeOnTransferToken(100))];
        string[4] memory names = ["alice", "bob", "carol", "dave"];
        for (uint256 i; i < 4; ++i) (accounts[i], _keys[i]) = makeAccount(names[i]);
        accounts[4] = address(new ERC1271Wallet(accounts[0]));
        _keys[4] = _keys[0];
    }

    /// @notice The number of accounts that can hold hub balances (every actor, every submitter).
    function accountCount() external pure returns (uint256) {
        return ACCOUNTS;
    }

    // ------------------------------------------------------------------------------------ actions

    /// @dev Mostly everyday amounts; one call in eight anything up to the 128-bit limit.
    function deposit(uint256 depositorSeed, uint256 accountSeed, uint256 tokenSeed, uint256 amount) external {
        amount = amount % 8 == 0 ? bound(amount >> 3, 1, MAX_BALANCE) : bound(amount, 1, 1e24);
        _deposit(accounts[depositorSeed % 4], accounts[accountSeed % ACCOUNTS], tokens[tokenSeed % 3], amount);
    }

    /// @notice Tops an account's balance up to exactly `type(uint128).max`, then deposits `extra`
    /// more, which the hub must refuse with `SettlementHubBalanceTooLarge`.
    function depositToLimit(uint256 depositorSeed, uint256 accountSeed, uint256 tokenSeed, uint256 extra) public {
        address depositor = accounts[depositorSeed % 4];
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        // A fee-on-transfer token may need two deposits: one deposit is at most 2^128 - 1 sent.
        for (uint256 i; i < 2; ++i) {
            uint256 gap = MAX_BALANCE - hub.balanceOf(account, token);
            if (gap == 0) break;
            uint256 amount = _sentFor(token, gap);
            _deposit(depositor, account, token, amount < MAX_BALANCE ? amount : MAX_BALANCE);
        }
        if (hub.balanceOf(account, token) == MAX_BALANCE) ++balancesToppedToLimit;
        _deposit(depositor, account, token, bound(extra, 1, 1e24));
    }

    function settle(uint256 seed, bool batch) external {
        if (batch) _settleBatch(seed);
        else _settleOne(seed);
    }

    function _settleOne(uint256 seed) internal {
        (ISettlementHub.Payment memory p, bytes memory signature) = _intent(seed);
        address submitter = accounts[(seed >> 200) % ACCOUNTS];
        bytes memory expected = _expectedSettleError(p, _flaw(seed), submitter);
        vm.recordLogs();
        vm.prank(submitter);
        try hub.settle(p, signature) {
            ++singleSettlements;
            _expectSuccess(expected, "settle");
        } catch (bytes memory reason) {
            ++failedIntents;
            _expectError(reason, expected, "settle");
        }
        _recordOutcomes(_single(p), _single(seed));
    }

    function _settleBatch(uint256 seed) internal {
        uint256 count = bound(seed >> 224, 1, 6);
        ISettlementHub.Payment[] memory ps = new ISettlementHub.Payment[](count);
        bytes[] memory signatures = new bytes[](count);
        uint256[] memory seeds = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            seeds[i] = uint256(keccak256(abi.encode(seed, i)));
            (ps[i], signatures[i]) = _intent(seeds[i]);
        }
        address submitter = accounts[seed % ACCOUNTS];
        vm.recordLogs();
        vm.prank(submitter);
        try hub.settleBatch(ps, signatures) returns (uint256 settled) {
            if (settled != 0) ++batchesWithSettlement;
            _recordOutcomes(ps, seeds);
        } catch (bytes memory reason) {
            // A batch reverts as a whole only when the submitter's fee credit would pass 2^128 - 1.
            if (
                bytes4(reason) != ISettlementHub.SettlementHubBalanceTooLarge.selector ||
                _firstArgument(reason) != submitter
            ) {
                _unexpected("settleBatch reverted for another reason than the submitter's fee credit");
            }
        }
    }

    function requestWithdrawal(uint256 accountSeed, uint256 tokenSeed, uint256 amount) external {
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        amount = bound(amount, 0, hub.balanceOf(account, token) + 10);
        bytes memory expected;
        if (amount > MAX_BALANCE) {
            expected = abi.encodeWithSelector(ISettlementHub.SettlementHubAmountTooLarge.selector, amount);
        } else if (amount == 0 && hub.getWithdrawalRequest(account, token).amount == 0) {
            expected = abi.encodeWithSelector(ISettlementHub.SettlementHubNoWithdrawalRequest.selector, account, token);
        }
        vm.prank(account);
        try hub.requestWithdrawal(token, amount) {
            ++withdrawalRequests;
            _expectSuccess(expected, "requestWithdrawal");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "requestWithdrawal");
        }
    }

    function withdraw(uint256 accountSeed, uint256 tokenSeed, uint256 wait) external {
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        vm.warp(block.timestamp + bound(wait, 0, 2 hours));
        ISettlementHub.WithdrawalRequest memory request = hub.getWithdrawalRequest(account, token);
        bytes memory expected;
        if (request.amount == 0) {
            expected = abi.encodeWithSelector(ISettlementHub.SettlementHubNoWithdrawalRequest.selector, account, token);
        } else if (block.timestamp < request.availableAt) {
            expected = abi.encodeWithSelector(
                ISettlementHub.SettlementHubWithdrawalNotReady.selector,
                account,
                token,
                request.availableAt
            );
        }
        uint256 balanceBefore = hub.balanceOf(account, token);
        uint256 heldBefore = _holdings(token);
        vm.prank(account);
        try hub.withdraw(token, account) returns (uint256 paid) {
            _expectSuccess(expected, "withdraw");
            uint256 balanceAfter = hub.balanceOf(account, token);
            uint256 heldAfter = _holdings(token);
            if (balanceAfter > balanceBefore || heldAfter > heldBefore) {
                _unexpected("a withdrawal raised a balance or the hub's holdings");
                return;
            }
            // What left the hub must be exactly what the account was debited (and what it reports).
            uint256 left = heldBefore - heldAfter;
            withdrawn[token] += left;
            if (left != balanceBefore - balanceAfter || paid != left) _unexpected("withdrawal paid != debited");
            if (paid != 0) ++withdrawals;
        } catch (bytes memory reason) {
            _expectError(reason, expected, "withdraw");
        }
    }

    function invalidateNonces(uint256 accountSeed, uint256 mask) external {
        vm.prank(accounts[accountSeed % ACCOUNTS]);
        hub.invalidateNonces(0, mask & 0xffff);
        ++invalidations;
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 1 days));
    }

    // ------------------------------------------------------------------------------------ helpers

    /// @dev Deposits `amount` of `token` from `depositor` for `account`, predicting the outcome:
    /// credited when the resulting balance fits in 128 bits, otherwise refused with
    /// `SettlementHubBalanceTooLarge` (counted in `tooLargeRefusals`).
    function _deposit(address depositor, address account, address token, uint256 amount) internal {
        uint256 before = hub.balanceOf(account, token);
        uint256 heldBefore = _holdings(token);
        uint256 arriving = amount - (token == tokens[2] ? (amount * FeeOnTransferToken(token).feeBps()) / 10_000 : 0);
        bytes memory expected;
        if (before + arriving > MAX_BALANCE) {
            expected = abi.encodeWithSelector(
                ISettlementHub.SettlementHubBalanceTooLarge.selector,
                account,
                token,
                before + arriving
            );
        }
        uint256 value;
        if (token == address(0)) {
            vm.deal(depositor, amount);
            value = amount;
        } else {
            TestToken(token).mint(depositor, amount);
            vm.prank(depositor);
            TestToken(token).approve(address(hub), amount);
        }
        vm.prank(depositor);
        try hub.depositFor{value: value}(account, token, amount) {
            ++deposits;
            if (expected.length != 0) _unexpected("a deposit above 2^128 - 1 was credited");
            uint256 balanceAfter = hub.balanceOf(account, token);
            if (balanceAfter < before) {
                _unexpected("a deposit lowered a balance");
                return;
            }
            credited[token] += balanceAfter - before;
            // What arrived (the hub's holdings grew by it) is exactly what was credited.
            if (balanceAfter - before != arriving || _holdings(token) != heldBefore + arriving) {
                _unexpected("a deposit credited other than what arrived");
            }
        } catch (bytes memory reason) {
            if (keccak256(reason) != keccak256(expected)) _unexpected("deposit refused for another reason");
            else ++tooLargeRefusals;
        }
    }

    /// @dev The smallest amount to send so that `net` arrives (the fee-on-transfer token burns a
    /// fraction of every transfer; every net amount is reachable since the fee rounds down).
    function _sentFor(address token, uint256 net) internal view returns (uint256 sent) {
        if (token != tokens[2]) return net;
        uint256 feeBps = FeeOnTransferToken(token).feeBps();
        sent = (net * 10_000) / (10_000 - feeBps);
        while (sent - (sent * feeBps) / 10_000 < net) ++sent;
        while (sent != 0 && (sent - 1) - ((sent - 1) * feeBps) / 10_000 >= net) --sent;
    }

    function _holdings(address token) internal view returns (uint256) {
        return token == address(0) ? address(hub).balance : IERC20(token).balanceOf(address(hub));
    }

    /// @dev The flaw `_intent(seed)` injects: 1 not yet valid, 2 expired, 3 signed by another
    /// key, anything else none.
    function _flaw(uint256 seed) internal pure returns (uint256) {
        return (seed >> 136) % 8;
    }

    /// @dev An intent derived from `seed`: random parties, token, amounts around the payer's
    /// balance, a nonce among 16 (so reuse happens), and sometimes a flaw (see {_flaw}).
    function _intent(uint256 seed) internal view returns (ISettlementHub.Payment memory p, bytes memory signature) {
        uint256 fromIndex = seed % ACCOUNTS;
        p.from = accounts[fromIndex];
        p.to = accounts[(seed >> 8) % ACCOUNTS];
        p.token = tokens[(seed >> 16) % 3];
        uint256 balance = hub.balanceOf(p.from, p.token);
        p.amount = bound(seed >> 24, 0, balance + balance / 4 + 1);
        p.fee = bound(seed >> 96, 0, balance / 10 + 1);
        p.nonce = (seed >> 128) % 16;
        uint256 flaw = _flaw(seed);
        p.validAfter = flaw == 1 ? uint64(block.timestamp) : 0;
        p.validBefore = flaw == 2 ? uint64(block.timestamp) : uint64(block.timestamp + 1 hours);
        p.ref = bytes32(seed);
        uint256 key = flaw == 3 ? _keys[(fromIndex + 1) % 4] : _keys[fromIndex];
        signature = signDigest(key, hub.paymentDigest(p));
    }

    /// @dev The custom error `settle(p)` submitted by `submitter` must revert with, from the
    /// hub's rules in their documented order and its current state; empty when it must settle.
    function _expectedSettleError(
        ISettlementHub.Payment memory p,
        uint256 flaw,
        address submitter
    ) internal view returns (bytes memory) {
        if (flaw == 1) {
            return
                abi.encodeWithSelector(ISettlementHub.SettlementHubNotYetValid.selector, p.validAfter, block.timestamp);
        }
        if (flaw == 2) {
            return abi.encodeWithSelector(ISettlementHub.SettlementHubExpired.selector, p.validBefore, block.timestamp);
        }
        if (flaw == 3) {
            return
                abi.encodeWithSelector(
                    ISettlementHub.SettlementHubInvalidSignature.selector,
                    p.from,
                    hub.paymentDigest(p)
                );
        }
        if (hub.nonceUsed(p.from, p.nonce)) {
            return abi.encodeWithSelector(ISettlementHub.SettlementHubNonceUsed.selector, p.from, p.nonce);
        }
        uint256 fromBalance = hub.balanceOf(p.from, p.token);
        if (p.amount > fromBalance || p.fee > fromBalance - p.amount) {
            return
                abi.encodeWithSelector(
                    ISettlementHub.SettlementHubInsufficientBalance.selector,
                    p.from,
                    p.token,
                    fromBalance,
                    p.amount,
                    p.fee
                );
        }
        uint256 fromAfter = fromBalance - p.fee;
        uint256 toAfter;
        if (p.to != p.from) {
            toAfter = hub.balanceOf(p.to, p.token) + p.amount;
            if (toAfter > MAX_BALANCE) {
                return
                    abi.encodeWithSelector(
                        ISettlementHub.SettlementHubBalanceTooLarge.selector,
                        p.to,
                        p.token,
                        toAfter
                    );
            }
            fromAfter -= p.amount;
        }
        if (p.fee != 0) {
            uint256 submitterAfter =
                submitter == p.from ? fromAfter : (submitter == p.to ? toAfter : hub.balanceOf(submitter, p.token));
            if (submitterAfter + p.fee > MAX_BALANCE) {
                return
                    abi.encodeWithSelector(
                        ISettlementHub.SettlementHubBalanceTooLarge.selector,
                        submitter,
                        p.token,
                        submitterAfter + p.fee
                    );
            }
        }
        return "";
    }

    function _single(ISettlementHub.Payment memory p) internal pure returns (ISettlementHub.Payment[] memory ps) {
        ps = new ISettlementHub.Payment[](1);
        ps[0] = p;
    }

    function _single(uint256 seed) internal pure returns (uint256[] memory seeds) {
        seeds = new uint256[](1);
        seeds[0] = seed;
    }

    /// @dev Counts, per (payer, nonce), the intents of `ps` (made from `seeds`) that the recorded
    /// logs say settled, and checks the reason of each that failed in a batch against its flaw.
    function _recordOutcomes(ISettlementHub.Payment[] memory ps, uint256[] memory seeds) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 settledTopic = ISettlementHub.PaymentSettled.selector;
        bytes32 failedTopic = ISettlementHub.PaymentFailed.selector;
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(hub)) continue;
            bytes32 topic = logs[l].topics[0];
            if (topic != settledTopic && topic != failedTopic) continue;
            for (uint256 i; i < ps.length; ++i) {
                if (hub.paymentDigest(ps[i]) != logs[l].topics[1]) continue;
                uint256 flaw = _flaw(seeds[i]);
                if (topic == settledTopic) {
                    if (++settledCount[ps[i].from][ps[i].nonce] > 1) nonceSettledTwice = true;
                    ++settledIntents;
                    if (flaw >= 1 && flaw <= 3) _unexpected("a flawed intent settled");
                } else {
                    ++failedIntents;
                    _checkBatchFailure(abi.decode(logs[l].data, (ISettlementHub.FailureReason)), flaw);
                }
                break;
            }
        }
        submittedIntents += ps.length;
    }

    /// @dev A batch intent failed for `reason`: the injected flaw decides it when there is one
    /// (they come first in the hub's order); otherwise only state can (nonce, balance, 128 bits).
    function _checkBatchFailure(ISettlementHub.FailureReason reason, uint256 flaw) internal {
        ISettlementHub.FailureReason expected =
            flaw == 1
                ? ISettlementHub.FailureReason.NotYetValid
                : flaw == 2
                    ? ISettlementHub.FailureReason.Expired
                    : flaw == 3
                        ? ISettlementHub.FailureReason.BadSignature
                        : ISettlementHub.FailureReason.None;
        if (expected != ISettlementHub.FailureReason.None) {
            if (reason != expected) _unexpected("batch intent failed for another reason than its flaw");
        } else if (
            reason != ISettlementHub.FailureReason.NonceUsed &&
            reason != ISettlementHub.FailureReason.InsufficientBalance &&
            reason != ISettlementHub.FailureReason.BalanceTooLarge
        ) {
            _unexpected("unflawed batch intent failed for a stateless reason");
        }
    }

    /// @dev The first argument of an ABI-encoded custom error, as an address.
    function _firstArgument(bytes memory error_) internal pure returns (address account) {
        if (error_.length < 36) return address(0);
        assembly ("memory-safe") {
            account := mload(add(error_, 36))
        }
    }
}

/// @notice Invariants of the SettlementHub under random deposits, payments, batches, withdrawals
/// and nonce invalidations by several accounts (see README.md in this folder).
contract SettlementHubInvariantTest is Test {
    SettlementHub internal hub;
    SettlementHubHandler internal handler;

    function setUp() public {
        vm.warp(1_000_000);
        hub = new SettlementHub(address(this), 1 hours);
        handler = new SettlementHubHandler(hub);
        targetContract(address(handler));
    }

    function _sumOfBalances(address token) internal view returns (uint256 sum) {
        for (uint256 i; i < handler.accountCount(); ++i) sum += hub.balanceOf(handler.accounts(i), token);
    }

    function _holdings(address token) internal view returns (uint256) {
        return token == address(0) ? address(hub).balance : IERC20(token).balanceOf(address(hub));
    }

    /// Per token, the hub holds at least the sum of all account balances.
    function invariant_HubHoldsEveryBalance() public view {
        for (uint256 t; t < 3; ++t) {
            address token = handler.tokens(t);
            assertGe(_holdings(token), _sumOfBalances(token), "hub holds less than its accounts' balances");
        }
    }

    /// Per token, the hub holds exactly the sum of all account balances: deposits credit what
    /// arrived, withdrawals send out exactly what they debit (a fee-on-transfer token burns its fee
    /// out of the hub's transfer, so the hub still parts with exactly the debit), and nothing else
    /// moves tokens in or out (the handler never sends the hub anything directly).
    function invariant_HubHoldsExactlyEveryBalance() public view {
        for (uint256 t; t < 3; ++t) {
            address token = handler.tokens(t);
            assertEq(_holdings(token), _sumOfBalances(token), "hub holdings != its accounts' balances");
        }
    }

    /// Payments and fees only move value between accounts: per token, the sum of balances is
    /// exactly what deposits credited minus what withdrawals took out of the hub (measured as the
    /// drop of the hub's holdings, not as `withdraw`'s return value).
    function invariant_PaymentsConserveValue() public view {
        for (uint256 t; t < 3; ++t) {
            address token = handler.tokens(t);
            assertEq(
                _sumOfBalances(token),
                handler.credited(token) - handler.withdrawn(token),
                "balances differ from deposits minus withdrawals"
            );
        }
    }

    /// No (payer, nonce) pair ever settled twice.
    function invariant_NonceSettlesAtMostOnce() public view {
        assertFalse(handler.nonceSettledTwice(), "a nonce settled twice");
    }

    /// Every balance fits in 128 bits (the handler tops balances up to exactly 2^128 - 1 and then
    /// deposits more, which must be refused).
    function invariant_BalancesFitIn128Bits() public view {
        for (uint256 t; t < 3; ++t) {
            for (uint256 i; i < handler.accountCount(); ++i) {
                assertLe(
                    hub.balanceOf(handler.accounts(i), handler.tokens(t)),
                    type(uint128).max,
                    "balance > 128 bits"
                );
            }
        }
    }

    /// Every action has the outcome the hub's rules give it: a deposit is credited exactly what
    /// arrived unless the balance would pass 2^128 - 1 (then refused with BalanceTooLarge); an
    /// intent settles exactly when nothing is wrong with it, and otherwise reverts with the error
    /// (arguments included) of its first flaw in the documented order, or, in a batch, reports the
    /// flaw it was given; withdrawal requests and withdrawals succeed or revert as their rules say,
    /// and a withdrawal sends out exactly what it debits.
    function invariant_EveryActionHasTheExpectedOutcome() public view {
        assertEq(
            handler.unexpectedOutcomes(),
            0,
            string.concat("unexpected outcome, first: ", handler.firstUnexpected())
        );
    }

    /// After every run: the ghost bookkeeping the invariants rely on matched every submitted
    /// intent to exactly one outcome, and every nonce it saw settle reads used. Then one balance is
    /// pushed to exactly 2^128 - 1 and one unit more is deposited, so every run reaches the
    /// 128-bit refusal. (The invariants themselves are not re-run here: a failure in
    /// `afterInvariant` is reported under every invariant, which would blur which one broke.)
    function afterInvariant() public {
        assertEq(
            handler.settledIntents() + handler.failedIntents(),
            handler.submittedIntents(),
            "an intent's outcome went unrecorded"
        );
        for (uint256 i; i < handler.accountCount(); ++i) {
            for (uint256 nonce; nonce < 16; ++nonce) {
                if (handler.settledCount(handler.accounts(i), nonce) != 0) {
                    assertTrue(hub.nonceUsed(handler.accounts(i), nonce), "a settled nonce reads unused");
                }
            }
        }
        uint256 refusals = handler.tooLargeRefusals();
        handler.depositToLimit(0, 1, 1, 1);
        assertEq(handler.tooLargeRefusals(), refusals + 1, "a deposit past 2^128 - 1 was not refused");
    }

    /// The handler's actions work: a fixed sequence drives every one of them to succeed at least
    /// once (and reaches the 128-bit refusal), with every outcome as predicted. Fails when a helper
    /// breaks (a wrong EIP-712 domain or signing key makes every intent fail).
    function test_HandlerReachesEveryAction() public {
        for (uint256 i; i < handler.accountCount(); ++i) {
            for (uint256 t; t < 3; ++t) handler.deposit(i, i, t, 1e12 + 1);
        }
        // Intents are random: try fixed seeds until one settles (each outcome is still checked).
        for (uint256 i; i < 64 && handler.singleSettlements() == 0; ++i) {
            handler.settle(uint256(keccak256(abi.encode("single", i))), false);
        }
        for (uint256 i; i < 64 && handler.batchesWithSettlement() == 0; ++i) {
            handler.settle(uint256(keccak256(abi.encode("batch", i))), true);
        }
        handler.requestWithdrawal(0, 1, 100);
        handler.withdraw(0, 1, 2 hours);
        handler.invalidateNonces(2, 0x8000);
        handler.warp(1 hours);
        handler.depositToLimit(1, 1, 1, 5);
        handler.depositToLimit(2, 3, 2, 7);

        assertGe(handler.deposits(), 15, "deposits");
        assertGe(handler.balancesToppedToLimit(), 1, "balances topped to the limit");
        assertGe(handler.tooLargeRefusals(), 1, "deposits refused above 128 bits");
        assertGe(handler.singleSettlements(), 1, "single settlements");
        assertGe(handler.batchesWithSettlement(), 1, "batches with a settlement");
        assertGe(handler.settledIntents(), 2, "settled intents");
        assertGe(handler.failedIntents(), 1, "failed intents");
        assertGe(handler.withdrawalRequests(), 1, "withdrawal requests");
        assertGe(handler.withdrawals(), 1, "withdrawals");
        assertGe(handler.withdrawn(handler.tokens(1)), 100, "withdrawn");
        assertGe(handler.invalidations(), 1, "nonce invalidations");
        _checkInvariants();
        afterInvariant();
    }

    function _checkInvariants() internal view {
        invariant_HubHoldsEveryBalance();
        invariant_HubHoldsExactlyEveryBalance();
        invariant_PaymentsConserveValue();
        invariant_NonceSettlesAtMostOnce();
        invariant_BalancesFitIn128Bits();
        invariant_EveryActionHasTheExpectedOutcome();
    }
}
