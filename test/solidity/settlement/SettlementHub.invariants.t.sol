// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC1271Wallet} from "../../../contracts/test/actors/ERC1271Wallet.sol";
import {FeeOnTransferToken} from "../../../contracts/test/tokens/FeeOnTransferToken.sol";
import {ISettlementHub} from "../../../contracts/settlement/ISettlementHub.sol";
import {SettlementHub} from "../../../contracts/settlement/SettlementHub.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives a SettlementHub for the invariant tests: several accounts (four EOAs and an
/// ERC-1271 wallet) deposit native currency, a plain and a fee-on-transfer token, pay each other
/// with single intents and batches (some expired, wrongly signed, over balance or reusing nonces),
/// request and complete withdrawals and invalidate nonces. Ghost variables record what went in,
/// what came out and which nonces settled.
contract SettlementHubHandler is Test {
    uint256 internal constant ACCOUNTS = 5;

    SettlementHub public immutable hub;
    address[3] public tokens;
    address[ACCOUNTS] public accounts;
    /// @dev The key that signs for each account (the wallet's owner signs for the wallet).
    uint256[ACCOUNTS] internal _keys;

    mapping(address token => uint256) public credited;
    mapping(address token => uint256) public withdrawn;
    mapping(address from => mapping(uint256 nonce => uint256)) public settledCount;
    bool public nonceSettledTwice;
    uint256 public settledIntents;
    uint256 public submittedIntents;

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

    function deposit(uint256 depositorSeed, uint256 accountSeed, uint256 tokenSeed, uint256 amount) external {
        address depositor = accounts[depositorSeed % 4];
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        amount = bound(amount, 1, 1e24);
        uint256 before = hub.balanceOf(account, token);
        vm.startPrank(depositor);
        if (token == address(0)) {
            vm.deal(depositor, amount);
            hub.depositFor{value: amount}(account, token, amount);
        } else {
            TestToken(token).mint(depositor, amount);
            TestToken(token).approve(address(hub), amount);
            hub.depositFor(account, token, amount);
        }
        vm.stopPrank();
        credited[token] += hub.balanceOf(account, token) - before;
    }

    function settle(uint256 seed, bool batch) external {
        if (!batch) {
            (ISettlementHub.Payment memory p, bytes memory signature) = _intent(seed);
            address submitter = accounts[(seed >> 200) % ACCOUNTS];
            vm.recordLogs();
            vm.prank(submitter);
            try hub.settle(p, signature) {} catch {}
            _recordOutcomes(_single(p));
            return;
        }
        uint256 count = bound(seed >> 224, 1, 6);
        ISettlementHub.Payment[] memory ps = new ISettlementHub.Payment[](count);
        bytes[] memory signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) (ps[i], signatures[i]) = _intent(uint256(keccak256(abi.encode(seed, i))));
        vm.recordLogs();
        vm.prank(accounts[seed % ACCOUNTS]);
        hub.settleBatch(ps, signatures);
        _recordOutcomes(ps);
    }

    function requestWithdrawal(uint256 accountSeed, uint256 tokenSeed, uint256 amount) external {
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        amount = bound(amount, 0, hub.balanceOf(account, token) + 10);
        vm.prank(account);
        hub.requestWithdrawal(token, amount);
    }

    function withdraw(uint256 accountSeed, uint256 tokenSeed, uint256 wait) external {
        address account = accounts[accountSeed % ACCOUNTS];
        address token = tokens[tokenSeed % 3];
        vm.warp(block.timestamp + bound(wait, 0, 2 hours));
        vm.prank(account);
        withdrawn[token] += hub.withdraw(token, account);
    }

    function invalidateNonces(uint256 accountSeed, uint256 mask) external {
        vm.prank(accounts[accountSeed % ACCOUNTS]);
        hub.invalidateNonces(0, mask & 0xffff);
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 1 days));
    }

    // ------------------------------------------------------------------------------------ helpers

    /// @dev An intent derived from `seed`: random parties, token, amounts around the payer's
    /// balance, a nonce among 16 (so reuse happens), and sometimes a flaw.
    function _intent(uint256 seed) internal view returns (ISettlementHub.Payment memory p, bytes memory signature) {
        uint256 fromIndex = seed % ACCOUNTS;
        p.from = accounts[fromIndex];
        p.to = accounts[(seed >> 8) % ACCOUNTS];
        p.token = tokens[(seed >> 16) % 3];
        uint256 balance = hub.balanceOf(p.from, p.token);
        p.amount = bound(seed >> 24, 0, balance + balance / 4 + 1);
        p.fee = bound(seed >> 96, 0, balance / 10 + 1);
        p.nonce = (seed >> 128) % 16;
        uint256 flaw = (seed >> 136) % 8;
        p.validAfter = flaw == 1 ? uint64(block.timestamp) : 0;
        p.validBefore = flaw == 2 ? uint64(block.timestamp) : uint64(block.timestamp + 1 hours);
        p.ref = bytes32(seed);
        uint256 key = flaw == 3 ? _keys[(fromIndex + 1) % 4] : _keys[fromIndex];
        signature = signDigest(key, hub.paymentDigest(p));
    }

    function _single(ISettlementHub.Payment memory p) internal pure returns (ISettlementHub.Payment[] memory ps) {
        ps = new ISettlementHub.Payment[](1);
        ps[0] = p;
    }

    /// @dev Counts, per (payer, nonce), the intents of `ps` that the recorded logs say settled.
    function _recordOutcomes(ISettlementHub.Payment[] memory ps) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 settledTopic = ISettlementHub.PaymentSettled.selector;
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(hub) || logs[l].topics[0] != settledTopic) continue;
            for (uint256 i; i < ps.length; ++i) {
                if (hub.paymentDigest(ps[i]) != logs[l].topics[1]) continue;
                if (++settledCount[ps[i].from][ps[i].nonce] > 1) nonceSettledTwice = true;
                ++settledIntents;
                break;
            }
        }
        submittedIntents += ps.length;
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

    /// Payments and fees only move value between accounts: per token, the sum of balances is
    /// exactly what deposits credited minus what withdrawals paid out.
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

    /// Every balance fits in 128 bits.
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
}
