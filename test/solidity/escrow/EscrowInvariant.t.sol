// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";
import {Escrow} from "../../../contracts/escrow/Escrow.sol";
import {IEscrow} from "../../../contracts/escrow/IEscrow.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {FeeOnTransferToken} from "../../../contracts/test/tokens/FeeOnTransferToken.sol";
import {BlocklistToken} from "../../../contracts/test/tokens/BlocklistToken.sol";

/// @notice Drives one Escrow through random sequences of create, release, signed release, refund,
/// dispute, resolve, expiry (single and batch), withdrawal, time jumps and token blocklisting,
/// with four actors who are payers and payees of each other, one arbiter and four currencies
/// (native, a plain ERC-20, a fee-on-transfer token and a blocklist token). After every action it
/// checks that no escrow's remainder grew.
contract EscrowHandler {
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
        uint256 id;
        if (token == address(0)) {
            vm.deal(payer, payer.balance + amount);
            vm.prank(payer);
            id = escrow.create{value: amount}(params);
        } else {
            TestToken(token).mint(payer, amount); // every test token here has `mint(address,uint256)`
            vm.prank(payer);
            TestToken(token).approve(address(escrow), amount);
            vm.prank(payer);
            id = escrow.create(params);
        }
        _ids.push(id);
        created[id] = escrow.remaining(id);
        _lastRemaining[id] = created[id];
        _checkRemainders();
    }

    function release(uint256 idSeed, uint256 amount) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        vm.prank(e.payer);
        escrow.release(id, _bound(amount, 1, e.remaining));
        _checkRemainders();
    }

    function refund(uint256 idSeed, uint256 amount) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        vm.prank(e.payee);
        escrow.refund(id, _bound(amount, 1, e.remaining));
        _checkRemainders();
    }

    function releaseWithSig(uint256 idSeed, uint256 total) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        if (e.remaining == 0) return;
        total = _bound(total, e.released + 1, e.released + e.remaining * 2);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(e.payer), escrow.releaseDigest(id, total, deadline));
        escrow.releaseWithSig(id, total, deadline, abi.encodePacked(r, s, v));
        _checkRemainders();
    }

    function dispute(uint256 idSeed, bool byPayee) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        vm.prank(byPayee ? e.payee : e.payer);
        escrow.dispute(id);
        _checkRemainders();
    }

    function resolve(uint256 idSeed, uint256 toPayee) external {
        (uint256 id, IEscrow.EscrowView memory e) = _pick(idSeed);
        vm.prank(arbiter);
        escrow.resolve(id, _bound(toPayee, 0, e.remaining));
        _checkRemainders();
    }

    function settleExpired(uint256 idSeed) external {
        (uint256 id, ) = _pick(idSeed);
        escrow.settleExpired(id);
        _checkRemainders();
    }

    function settleExpiredBatch(uint256 seed, uint256 count) external {
        uint256[] memory batch = new uint256[](_bound(count, 1, 6));
        for (uint256 i; i < batch.length; ++i) {
            // Mostly known ids, now and then an unknown one.
            batch[i] = _ids.length == 0 ? 1 : _ids[uint256(keccak256(abi.encode(seed, i))) % _ids.length];
            if (uint256(keccak256(abi.encode(seed, i, "unknown"))) % 8 == 0) batch[i] = 10_000 + i;
        }
        escrow.settleExpiredBatch(batch);
        _checkRemainders();
    }

    function withdraw(uint256 actorSeed, uint256 tokenSeed, bool asArbiter) external {
        vm.prank(asArbiter ? arbiter : _actors[actorSeed % N_ACTORS]);
        escrow.withdraw(_tokens[tokenSeed % _tokens.length]);
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
        uint256[] memory ids = handler.ids();
        address[4] memory actors = handler.actors();
        for (uint256 t; t < tokens.length; ++t) {
            address token = tokens[t];
            uint256 owedTotal = escrow.owed(FEE_RECIPIENT, token) + escrow.owed(ARBITER, token);
            for (uint256 a; a < actors.length; ++a) owedTotal += escrow.owed(actors[a], token);
            uint256 remainders;
            for (uint256 i; i < ids.length; ++i) {
                IEscrow.EscrowView memory e = escrow.getEscrow(ids[i]);
                if (e.token == token) remainders += e.remaining;
            }
            uint256 held = token == address(0) ? address(escrow).balance : TestToken(token).balanceOf(address(escrow));
            assertGe(held, remainders + owedTotal, "balance < remainders + owed");
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
}
