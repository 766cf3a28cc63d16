// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";
import {OutcomeLedger} from "../utils/OutcomeLedger.sol";
import {Escrow} from "../../../contracts/escrow/Escrow.sol";
import {IEscrow} from "../../../contracts/escrow/IEscrow.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {FeeOnTransferToken} from "../../../contracts/test/tokens/FeeOnTransferToken.sol";
import {BlocklistToken} from "../../../contracts/test/tokens/BlocklistToken.sol";
import {Payouts} from "../../../contracts/libraries/Payouts.sol";

/// @notice Drives one Escrow through random sequences of create, release, signed release, refund,
/// dispute, resolve, expiry (single and batch), withdrawal, time jumps and token blocklisting,
/// with four actors who are payers and payees of each other, one arbiter and four currencies
/// (native, a plain ERC-20, a fee-on-transfer token and a blocklist token). After every action it
/// checks that no escrow's remainder grew.
/// Every action predicts its outcome from the escrow's rules and state, and counts any other
/// outcome in `unexpectedOutcomes` instead of reverting (with `failOnRevert: false` a revert would
/// discard the evidence); successful actions are counted per kind.
contract EscrowHandler is OutcomeLedger {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant N_ACTORS = 4;

    Escrow public immutable escrow;
    address public immutable arbiter;
    BlocklistToken public immutable blocklist;
    address[] internal _tokens;
    address[N_ACTORS] internal _actors;
    uint256[N_ACTORS] internal _keys;

    uint256[] internal _ids;
    mapping(uint256 id => uint256) public created;
    mapping(uint256 id => uint256) internal _lastRemaining;
    bool public remainderIncreased;

    // Successful actions, so a run (and `test_HandlerReachesEveryAction`) can show it did something.
    uint256 public creates;
    uint256 public releases;
    uint256 public refunds;
    uint256 public signedReleases;
    uint256 public disputes;
    uint256 public resolutions;
    uint256 public expirySettlements;
    uint256 public batchExpirySettlements;
    uint256 public withdrawals;

    constructor(Escrow escrow_, address arbiter_, address[] memory tokens_, BlocklistToken blocklist_) {
        escrow = escrow_;
        arbiter = arbiter_;
        _tokens = tokens_;
        blocklist = blocklist_;
        for (uint256 i; i < N_ACTORS; ++i) {
            _keys[i] = uint256(keccak256(abi.encode("escrow actor", i)));
            _actors[i] = vm.addr(_keys[i]);
        }
    }

    // ------------------------------------------------------------------ actions

    function create(
        uint256 payerSeed,
        uint256 payeeSeed,
        uint256 tokenSeed,
        uint256 amount,
        uint256 duration,
        bool withArbiter,
        bool releaseOnExpiry
    ) external {
        uint256 p = payerSeed % N_ACTORS;
        address payer = _actors[p];
        address payee = _actors[(p + 1 + (payeeSeed % (N_ACTORS - 1))) % N_ACTORS];
        address token = _tokens[tokenSeed % _tokens.length];
        amount = _bound(amount, 1, 1e30);
        IEscrow.CreateParams memory params = IEscrow.CreateParams({
            payee: payee,
            arbiter: withArbiter ? arbiter : address(0),
            token: token,
            amount: amount,
            deadline: uint64(block.timestamp + _bound(duration, 1 hours, 10 days)),
            onExpiry: releaseOnExpiry ? IEscrow.ExpiryAction.ReleasePayee : IEscrow.ExpiryAction.RefundPayer,
            ref: bytes32(0)
        });
        // Valid terms always create an escrow, unless the blocklist token blocks the payer.
        bytes memory expected;
        uint256 value;
        if (token == address(0)) {
            vm.deal(payer, payer.balance + amount);
            value = amount;
        } else if (token == address(blocklist) && blocklist.blocked(payer)) {
            expected = abi.encodeWithSelector(BlocklistToken.Blocked.selector, payer);
        } else {
            TestToken(token).mint(payer, amount); // every test token here has `mint(address,uint256)`
        }
        if (token != address(0)) {
            vm.prank(payer);
            TestToken(token).approve(address(escrow), amount);
        }
        vm.prank(payer);
        try escrow.create{value: value}(params) returns (uint256 id) {
            ++creates;
            _expectSuccess(expected, "create");
            _ids.push(id);
            created[id] = escrow.remaining(id);
            _lastRemaining[id] = created[id];
        } catch (bytes memory reason) {
            _expectError(reason, expected, "create");
        }
        _checkRemainders();
    }

    function release(uint256 idSeed, uint256 amount) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        // The payer may release any amount up to what remains, disputed or not.
        vm.prank(e.payer);
        try escrow.release(id, _bound(amount, 1, e.remaining)) {
            ++releases;
        } catch {
            _unexpected("release by the payer of at most what remains refused");
        }
        _checkRemainders();
    }

    function refund(uint256 idSeed, uint256 amount) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        // The payee may refund any amount up to what remains, disputed or not.
        vm.prank(e.payee);
        try escrow.refund(id, _bound(amount, 1, e.remaining)) {
            ++refunds;
        } catch {
            _unexpected("refund by the payee of at most what remains refused");
        }
        _checkRemainders();
    }

    function releaseWithSig(uint256 idSeed, uint256 total) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        total = _bound(total, e.released + 1, e.released + e.remaining * 2);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(e.payer), escrow.releaseDigest(id, total, deadline));
        // A payer's signature for a total above what was released, before its deadline, always pays.
        try escrow.releaseWithSig(id, total, deadline, abi.encodePacked(r, s, v)) {
            ++signedReleases;
        } catch {
            _unexpected("signed release refused");
        }
        _checkRemainders();
    }

    function dispute(uint256 idSeed, bool byPayee) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        bytes memory expected;
        if (e.payer == address(0)) expected = abi.encodeWithSelector(IEscrow.EscrowNotFound.selector, id);
        else if (e.remaining == 0) expected = abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id);
        else if (e.arbiter == address(0)) expected = abi.encodeWithSelector(IEscrow.EscrowNoArbiter.selector, id);
        else if (e.state == IEscrow.EscrowState.Disputed) {
            expected = abi.encodeWithSelector(IEscrow.EscrowAlreadyDisputed.selector, id);
        } else if (block.timestamp > e.deadline) {
            expected = abi.encodeWithSelector(IEscrow.EscrowDeadlinePassed.selector, id, e.deadline);
        }
        vm.prank(byPayee ? e.payee : e.payer);
        try escrow.dispute(id) {
            ++disputes;
            _expectSuccess(expected, "dispute");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "dispute");
        }
        _checkRemainders();
    }

    function resolve(uint256 idSeed, uint256 toPayee) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        bytes memory expected;
        if (e.payer == address(0)) expected = abi.encodeWithSelector(IEscrow.EscrowNotFound.selector, id);
        else if (e.arbiter != arbiter)
            expected = abi.encodeWithSelector(IEscrow.EscrowNotArbiter.selector, id, arbiter);
        else if (e.remaining == 0) expected = abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id);
        else if (e.state != IEscrow.EscrowState.Disputed) {
            expected = abi.encodeWithSelector(IEscrow.EscrowNotDisputed.selector, id);
        }
        vm.prank(arbiter);
        try escrow.resolve(id, _bound(toPayee, 0, e.remaining)) {
            ++resolutions;
            _expectSuccess(expected, "resolve");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "resolve");
        }
        _checkRemainders();
    }

    function settleExpired(uint256 idSeed) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        bytes memory expected;
        if (e.payer == address(0)) expected = abi.encodeWithSelector(IEscrow.EscrowNotFound.selector, id);
        else if (e.remaining == 0) expected = abi.encodeWithSelector(IEscrow.EscrowClosed.selector, id);
        else if (block.timestamp <= _settleableAfter(e)) {
            expected = abi.encodeWithSelector(IEscrow.EscrowNotExpired.selector, id, _settleableAfter(e));
        }
        try escrow.settleExpired(id) {
            ++expirySettlements;
            _expectSuccess(expected, "settleExpired");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "settleExpired");
        }
        _checkRemainders();
    }

    function settleExpiredBatch(uint256 seed, uint256 count) external {
        uint256[] memory batch = new uint256[](_bound(count, 1, 6));
        uint256 due;
        for (uint256 i; i < batch.length; ++i) {
            // Mostly known ids, now and then an unknown one.
            batch[i] = _ids.length == 0 ? 1 : _ids[uint256(keccak256(abi.encode(seed, i))) % _ids.length];
            if (uint256(keccak256(abi.encode(seed, i, "unknown"))) % 8 == 0) batch[i] = 10_000 + i;
            // Due: something remains, past its settleable time, and not already settled earlier in the batch.
            IEscrow.EscrowView memory e = escrow.getEscrow(batch[i]);
            bool repeated;
            for (uint256 j; j < i; ++j) repeated = repeated || batch[j] == batch[i];
            if (!repeated && e.remaining != 0 && block.timestamp > _settleableAfter(e)) ++due;
        }
        uint256 settled = escrow.settleExpiredBatch(batch);
        batchExpirySettlements += settled;
        if (settled != due) _unexpected("settleExpiredBatch settled another number of escrows than were due");
        _checkRemainders();
    }

    function withdraw(uint256 actorSeed, uint256 tokenSeed, bool asArbiter) external {
        address account = asArbiter ? arbiter : _actors[actorSeed % N_ACTORS];
        address token = _tokens[tokenSeed % _tokens.length];
        uint256 owed = escrow.owed(account, token);
        bytes memory expected;
        if (owed == 0) expected = abi.encodeWithSelector(Payouts.PayoutsNothingOwed.selector, account, token);
        else if (token == address(blocklist) && blocklist.blocked(account)) {
            expected = abi.encodeWithSelector(BlocklistToken.Blocked.selector, account);
        }
        vm.prank(account);
        try escrow.withdraw(token) returns (uint256 paid) {
            ++withdrawals;
            _expectSuccess(expected, "withdraw");
            if (paid != owed || escrow.owed(account, token) != 0) _unexpected("withdraw paid other than owed");
        } catch (bytes memory reason) {
            _expectError(reason, expected, "withdraw");
        }
        _checkRemainders();
    }

    function warp(uint256 secondsAhead) external {
        vm.warp(block.timestamp + _bound(secondsAhead, 1, 5 days));
        _checkRemainders();
    }

    function setBlocked(uint256 actorSeed, bool isBlocked) external {
        blocklist.setBlocked(_actors[actorSeed % N_ACTORS], isBlocked);
    }

    // ------------------------------------------------------------------ views for the invariants

    function ids() external view returns (uint256[] memory) {
        return _ids;
    }

    function tokens() external view returns (address[] memory) {
        return _tokens;
    }

    function actors() external view returns (address[N_ACTORS] memory) {
        return _actors;
    }

    // ------------------------------------------------------------------ internals

    function _pick(uint256 seed) internal view returns (uint256 id, IEscrow.EscrowView memory e) {
        id = _ids.length == 0 ? 1 : _ids[seed % _ids.length];
        e = escrow.getEscrow(id);
    }

    /// @dev When an escrow with funds left may be settled on expiry: after its deadline, postponed
    /// for a disputed one until the arbiter's resolution timeout has passed.
    function _settleableAfter(IEscrow.EscrowView memory e) internal view returns (uint256 settleableAfter) {
        settleableAfter = e.deadline;
        if (e.state == IEscrow.EscrowState.Disputed) {
            uint256 resolvableUntil = uint256(e.disputedAt) + escrow.resolutionTimeout();
            if (resolvableUntil > settleableAfter) settleableAfter = resolvableUntil;
        }
    }

    function _keyOf(address account) internal view returns (uint256) {
        for (uint256 i; i < N_ACTORS; ++i) if (_actors[i] == account) return _keys[i];
        return 1;
    }

    function _checkRemainders() internal {
        for (uint256 i; i < _ids.length; ++i) {
            uint256 now_ = escrow.remaining(_ids[i]);
            if (now_ > _lastRemaining[_ids[i]]) remainderIncreased = true;
            _lastRemaining[_ids[i]] = now_;
        }
    }

    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (x >= min && x <= max) return x;
        return min + (x % (max - min + 1));
    }
}

/// @notice The Escrow invariants, written out in `README.md` beside this file.
contract EscrowInvariantTest is Test {
    Escrow internal escrow;
    EscrowHandler internal handler;
    address internal constant FEE_RECIPIENT = address(0xFEE);
    address internal constant ARBITER = address(0xA4B);

    function setUp() public {
        escrow = new Escrow(address(this), FEE_RECIPIENT, 250, 1 days);
        BlocklistToken blocklist = new BlocklistToken();
        address[] memory tokens = new address[](4);
        tokens[0] = address(0);
        tokens[1] = address(new TestToken("Test", "TST", 18));
        tokens[2] = address(new FeeOnTransferToken(100));
        tokens[3] = address(blocklist);
        handler = new EscrowHandler(escrow, ARBITER, tokens, blocklist);

        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = EscrowHandler.create.selector;
        selectors[1] = EscrowHandler.release.selector;
        selectors[2] = EscrowHandler.refund.selector;
        selectors[3] = EscrowHandler.releaseWithSig.selector;
        selectors[4] = EscrowHandler.dispute.selector;
        selectors[5] = EscrowHandler.resolve.selector;
        selectors[6] = EscrowHandler.settleExpired.selector;
        selectors[7] = EscrowHandler.settleExpiredBatch.selector;
        selectors[8] = EscrowHandler.withdraw.selector;
        selectors[9] = EscrowHandler.warp.selector;
        selectors[10] = EscrowHandler.setBlocked.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Per token, the contract holds at least every escrow's remainder plus every owed balance.
    function invariant_EscrowHoldsEveryRemainderAndOwedBalance() public view {
        address[] memory tokens = handler.tokens();
        for (uint256 t; t < tokens.length; ++t) {
            address token = tokens[t];
            (uint256 remainders, uint256 owedTotal) = _liabilities(token);
            assertGe(_held(token), remainders + owedTotal, "balance < remainders + owed");
        }
    }

    /// Per token, the contract holds exactly every escrow's remainder plus every owed balance:
    /// `create` records what arrived, every payout either leaves the contract in full (a
    /// fee-on-transfer token burns its fee out of the contract's transfer, so the contract still
    /// parts with exactly the payout) or is credited to `owed`, fees are credited to the fee
    /// recipient's `owed`, and the handler never sends the contract anything directly. Nothing is
    /// stranded: a surplus would be funds nobody can ever claim.
    function invariant_EscrowHoldsExactlyRemaindersPlusOwed() public view {
        address[] memory tokens = handler.tokens();
        for (uint256 t; t < tokens.length; ++t) {
            (uint256 remainders, uint256 owedTotal) = _liabilities(tokens[t]);
            assertEq(_held(tokens[t]), remainders + owedTotal, "balance != remainders + owed");
        }
    }

    /// An escrow's remainder never increases.
    function invariant_RemaindersNeverIncrease() public view {
        assertFalse(handler.remainderIncreased(), "a remainder increased");
    }

    /// What an escrow released plus what remains never exceeds what it was created with, and its
    /// state is Closed exactly when nothing remains.
    function invariant_ReleasedPlusRemainingWithinCreated() public view {
        uint256[] memory ids = handler.ids();
        for (uint256 i; i < ids.length; ++i) {
            IEscrow.EscrowView memory e = escrow.getEscrow(ids[i]);
            assertLe(e.released + e.remaining, handler.created(ids[i]), "released + remaining > created");
            assertEq(e.state == IEscrow.EscrowState.Closed, e.remaining == 0, "Closed iff nothing remains");
        }
    }

    /// Every action has the outcome the escrow's rules give it: creating with valid terms, a
    /// release by the payer or a refund by the payee of at most what remains, and a payer-signed
    /// release always succeed; dispute, resolve, settleExpired and withdraw succeed exactly when
    /// allowed and otherwise revert with the custom error (arguments included) their rules name;
    /// a batch settles exactly the escrows that are due.
    function invariant_EveryActionHasTheExpectedOutcome() public view {
        assertEq(
            handler.unexpectedOutcomes(),
            0,
            string.concat("unexpected outcome, first: ", handler.firstUnexpected())
        );
    }

    /// After every run: every id the handler recorded was really created (once each), with what
    /// arrived recorded as its amount.
    function afterInvariant() public view {
        uint256[] memory ids = handler.ids();
        assertEq(handler.creates(), ids.length, "creates != recorded ids");
        for (uint256 i; i < ids.length; ++i) {
            assertTrue(escrow.getEscrow(ids[i]).payer != address(0), "a recorded id was never created");
            assertGe(handler.created(ids[i]), 1, "an escrow recorded with nothing");
            if (i > 0) assertGe(ids[i], ids[i - 1] + 1, "ids not increasing");
        }
    }

    /// The handler's actions work: a fixed sequence drives every one of them to succeed at least
    /// once (a deferred payout included), with every outcome as predicted. Fails when a helper
    /// breaks (a wrong signing key or digest makes every signed release fail).
    function test_HandlerReachesEveryAction() public {
        handler.create(0, 0, 1, 1_000, 1 days, true, false); // actor 0 pays actor 1, with the arbiter
        handler.release(0, 100);
        handler.refund(0, 100);
        handler.releaseWithSig(0, 150);
        handler.dispute(0, true);
        handler.resolve(0, 300);
        handler.create(1, 0, 3, 1_000, 1 hours, false, true); // actor 1 pays actor 2 in the blocklist token
        handler.setBlocked(2, true);
        handler.warp(2 hours);
        handler.settleExpired(1); // released to actor 2, who is blocked: owed
        handler.setBlocked(2, false);
        handler.withdraw(2, 3, false);
        handler.create(2, 0, 0, 1_000, 1 hours, false, false); // native, refunded on expiry
        handler.warp(2 hours);
        for (uint256 i; i < 16 && handler.batchExpirySettlements() == 0; ++i) handler.settleExpiredBatch(i, 6);

        assertEq(handler.creates(), 3, "creates");
        assertEq(handler.releases(), 1, "releases");
        assertEq(handler.refunds(), 1, "refunds");
        assertEq(handler.signedReleases(), 1, "signed releases");
        assertEq(handler.disputes(), 1, "disputes");
        assertEq(handler.resolutions(), 1, "resolutions");
        assertEq(handler.expirySettlements(), 1, "expiry settlements");
        assertEq(handler.batchExpirySettlements(), 1, "batch expiry settlements");
        assertEq(handler.withdrawals(), 1, "withdrawals");
        invariant_EscrowHoldsEveryRemainderAndOwedBalance();
        invariant_EscrowHoldsExactlyRemaindersPlusOwed();
        invariant_RemaindersNeverIncrease();
        invariant_ReleasedPlusRemainingWithinCreated();
        invariant_EveryActionHasTheExpectedOutcome();
        afterInvariant();
    }

    /// @dev Per token: the sum of every escrow's remainder, and the sum of every owed balance
    /// (actors, arbiter, fee recipient: everyone the escrow ever pays).
    function _liabilities(address token) internal view returns (uint256 remainders, uint256 owedTotal) {
        uint256[] memory ids = handler.ids();
        address[4] memory actors = handler.actors();
        owedTotal = escrow.owed(FEE_RECIPIENT, token) + escrow.owed(ARBITER, token);
        for (uint256 a; a < actors.length; ++a) owedTotal += escrow.owed(actors[a], token);
        for (uint256 i; i < ids.length; ++i) {
            IEscrow.EscrowView memory e = escrow.getEscrow(ids[i]);
            if (e.token == token) remainders += e.remaining;
        }
    }

    function _held(address token) internal view returns (uint256) {
        return token == address(0) ? address(escrow).balance : TestToken(token).balanceOf(address(escrow));
    }
}
