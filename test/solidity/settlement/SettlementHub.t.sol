// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";
import {ISettlementHub} from "../../../contracts/settlement/ISettlementHub.sol";
import {SettlementHub} from "../../../contracts/settlement/SettlementHub.sol";
import {TestToken} from "../../../contracts/test/tokens/TestToken.sol";

/// @notice Fuzz tests of the SettlementHub's settlement rules: a payment moves exactly `amount`
/// to `to` and `fee` to the submitter, or nothing at all; a nonce settles at most once; the
/// on-chain digest is the EIP-712 digest.
contract SettlementHubTest is Test {
    bytes32 internal constant PAYMENT_TYPEHASH = keccak256(
        "Payment(address from,address to,address token,uint256 amount,uint256 fee,uint256 nonce,uint64 validAfter,uint64 validBefore,bytes32 ref)"
    );
    uint256 internal constant MAX_128 = type(uint128).max;

    SettlementHub internal hub;
    TestToken internal token;

    address[4] internal accounts;
    uint256[4] internal keys;

    function setUp() public {
        vm.warp(1_000_000);
        hub = new SettlementHub(address(this), 1 hours);
        token = new TestToken("USD Coin", "USDC", 6);
        string[4] memory names = ["alice", "bob", "carol", "relayer"];
        for (uint256 i; i < 4; ++i) {
            (accounts[i], keys[i]) = makeAccount(names[i]);
            token.mint(accounts[i], MAX_128);
            vm.prank(accounts[i]);
            token.approve(address(hub), type(uint256).max);
        }
    }

    function _deposit(address account, uint256 amount) internal {
        if (amount == 0) return;
        vm.prank(account);
        hub.deposit(address(token), amount);
    }

    function _snapshot() internal view returns (uint256[4] memory balances) {
        for (uint256 i; i < 4; ++i) balances[i] = hub.balanceOf(accounts[i], address(token));
    }

    /// @dev Submits `p` through `settle` or `settleBatch` (as `submitter`) and returns whether it
    /// settled. When it did not, checks that it failed for `expected` and nothing else: `settle`
    /// must revert with exactly that reason's custom error, arguments included; `settleBatch` must
    /// report exactly that reason in `PaymentFailed`. (Whether it should have settled at all is
    /// the caller's assertion.)
    function _settle(
        ISettlementHub.Payment memory p,
        bytes memory signature,
        address submitter,
        bool batch,
        ISettlementHub.FailureReason expected
    ) internal returns (bool settled) {
        bytes32 digest = hub.paymentDigest(p);
        if (batch) {
            ISettlementHub.Payment[] memory ps = new ISettlementHub.Payment[](1);
            ps[0] = p;
            bytes[] memory signatures = new bytes[](1);
            signatures[0] = signature;
            vm.recordLogs();
            vm.prank(submitter);
            settled = hub.settleBatch(ps, signatures) == 1;
            if (!settled) assertEq(uint256(_failureReported(digest)), uint256(expected), "batch failure reason");
            return settled;
        }
        bytes memory expectedError = _errorFor(expected, p, digest);
        vm.prank(submitter);
        try hub.settle(p, signature) {
            return true;
        } catch (bytes memory reason) {
            assertEq(keccak256(reason), keccak256(expectedError), "settle reverted for another reason");
            return false;
        }
    }

    /// @dev The custom error `settle` reverts with when `p` (digest `digest`) fails for `reason`,
    /// in the hub's current state; empty for `None`.
    function _errorFor(
        ISettlementHub.FailureReason reason,
        ISettlementHub.Payment memory p,
        bytes32 digest
    ) internal view returns (bytes memory) {
        if (reason == ISettlementHub.FailureReason.None) return "";
        if (reason == ISettlementHub.FailureReason.NotYetValid) {
            return
                abi.encodeWithSelector(ISettlementHub.SettlementHubNotYetValid.selector, p.validAfter, block.timestamp);
        }
        if (reason == ISettlementHub.FailureReason.Expired) {
            return abi.encodeWithSelector(ISettlementHub.SettlementHubExpired.selector, p.validBefore, block.timestamp);
        }
        if (reason == ISettlementHub.FailureReason.BadSignature) {
            return abi.encodeWithSelector(ISettlementHub.SettlementHubInvalidSignature.selector, p.from, digest);
        }
        if (reason == ISettlementHub.FailureReason.NonceUsed) {
            return abi.encodeWithSelector(ISettlementHub.SettlementHubNonceUsed.selector, p.from, p.nonce);
        }
        if (reason == ISettlementHub.FailureReason.InsufficientBalance) {
            return
                abi.encodeWithSelector(
                    ISettlementHub.SettlementHubInsufficientBalance.selector,
                    p.from,
                    p.token,
                    hub.balanceOf(p.from, p.token),
                    p.amount,
                    p.fee
                );
        }
        revert("no fuzzed flaw produces this reason");
    }

    /// @dev The reason of the `PaymentFailed` event the recorded logs hold for `digest`; `None`
    /// when there is none.
    function _failureReported(bytes32 digest) internal returns (ISettlementHub.FailureReason) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(hub) &&
                logs[i].topics[0] == ISettlementHub.PaymentFailed.selector &&
                logs[i].topics[1] == digest
            ) return abi.decode(logs[i].data, (ISettlementHub.FailureReason));
        }
        return ISettlementHub.FailureReason.None;
    }

    /// @dev One fuzzed intent: who pays, who is paid, who submits, and whether it should settle.
    struct Case {
        uint256 fromIndex;
        uint256 toIndex;
        uint256 submitterIndex;
        bool nonceTaken;
        bool valid;
        ISettlementHub.FailureReason expected;
    }

    /// Any intent, valid or not, through `settle` or `settleBatch`: it settles exactly when every
    /// rule holds, and then moves exactly `amount` from `from` to `to` and `fee` to the submitter;
    /// otherwise no balance and no nonce changes. Covers paying oneself and submitting one's own
    /// or one's incoming payment. `flaws` bits: 1 not yet valid, 2 expired, 4 nonce already
    /// invalidated, 8 signed by someone else (carol, never the payer).
    function testFuzz_PaymentMovesExactlyAmountAndFeeOrNothing(
        uint256 fromBalance,
        uint256 amount,
        uint256 fee,
        uint256 nonce,
        uint8 roles,
        uint8 flaws,
        bool batch
    ) public {
        Case memory c;
        c.fromIndex = roles % 2;
        c.toIndex = (roles >> 1) % 3;
        c.submitterIndex = (roles >> 3) % 4;
        c.nonceTaken = (flaws & 4) != 0;
        fromBalance = bound(fromBalance, 0, MAX_128);
        amount = bound(amount, 0, fromBalance + 10);
        fee = bound(fee, 0, fromBalance + 10);
        c.valid = (flaws & 11) == 0 && !c.nonceTaken && amount + fee <= fromBalance;
        // The first failing rule, in the hub's order (window, signature, nonce, balance).
        if ((flaws & 1) != 0) c.expected = ISettlementHub.FailureReason.NotYetValid;
        else if ((flaws & 2) != 0) c.expected = ISettlementHub.FailureReason.Expired;
        else if ((flaws & 8) != 0) c.expected = ISettlementHub.FailureReason.BadSignature;
        else if (c.nonceTaken) c.expected = ISettlementHub.FailureReason.NonceUsed;
        else if (!c.valid) c.expected = ISettlementHub.FailureReason.InsufficientBalance;
        _deposit(accounts[c.fromIndex], fromBalance);

        ISettlementHub.Payment memory p = ISettlementHub.Payment({
            from: accounts[c.fromIndex],
            to: accounts[c.toIndex],
            token: address(token),
            amount: amount,
            fee: fee,
            nonce: nonce,
            validAfter: (flaws & 1) != 0 ? uint64(block.timestamp) : 0,
            validBefore: (flaws & 2) != 0 ? uint64(block.timestamp) : uint64(block.timestamp + 1),
            ref: bytes32(uint256(roles))
        });
        if (c.nonceTaken) {
            vm.prank(p.from);
            hub.invalidateNonces(nonce >> 8, uint256(1) << (nonce & 0xff));
        }
        bytes memory signature = signDigest(keys[(flaws & 8) != 0 ? 2 : c.fromIndex], hub.paymentDigest(p));

        uint256[4] memory expected = _snapshot();
        bool settled = _settle(p, signature, accounts[c.submitterIndex], batch, c.expected);

        assertEq(settled, c.valid, "settled exactly when every rule holds");
        assertEq(hub.nonceUsed(p.from, nonce), settled || c.nonceTaken, "nonce used exactly when settled");
        if (settled) {
            expected[c.fromIndex] -= amount + fee;
            expected[c.toIndex] += amount;
            expected[c.submitterIndex] += fee;
        }
        uint256[4] memory afterwards = _snapshot();
        for (uint256 i; i < 4; ++i) assertEq(afterwards[i], expected[i], "balance moved differently");
        assertEq(token.balanceOf(address(hub)), fromBalance, "hub holdings changed");
    }

    /// However a nonce is presented again (same intent, other amount, through either entry
    /// point), it settles at most once.
    function testFuzz_NonceSettlesAtMostOnce(
        uint256 nonce,
        uint256 amountA,
        uint256 amountB,
        bool batchA,
        bool batchB
    ) public {
        amountA = bound(amountA, 0, 1_000);
        amountB = bound(amountB, 0, 1_000);
        _deposit(accounts[0], 10_000);
        ISettlementHub.Payment memory p = ISettlementHub.Payment({
            from: accounts[0],
            to: accounts[1],
            token: address(token),
            amount: amountA,
            fee: 0,
            nonce: nonce,
            validAfter: 0,
            validBefore: type(uint64).max,
            ref: bytes32(0)
        });
        bytes memory signatureA = signDigest(keys[0], hub.paymentDigest(p));
        ISettlementHub.FailureReason nonceUsed = ISettlementHub.FailureReason.NonceUsed;
        assertTrue(_settle(p, signatureA, accounts[3], batchA, ISettlementHub.FailureReason.None), "first use settles");
        assertFalse(_settle(p, signatureA, accounts[3], batchB, nonceUsed), "replay settles");
        p.amount = amountB;
        bytes memory signatureB = signDigest(keys[0], hub.paymentDigest(p));
        assertFalse(_settle(p, signatureB, accounts[3], batchB, nonceUsed), "re-signed nonce settles");
        assertEq(hub.balanceOf(accounts[1], address(token)), amountA, "payee got more than one payment");
    }

    /// Within one batch, every copy of a nonce after the first fails with NonceUsed.
    function testFuzz_BatchSettlesEachNonceOnce(uint256 nonce, uint8 copies) public {
        uint256 count = bound(copies, 1, 8);
        _deposit(accounts[0], 10_000);
        ISettlementHub.Payment[] memory ps = new ISettlementHub.Payment[](count);
        bytes[] memory signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            ps[i] = ISettlementHub.Payment({
                from: accounts[0],
                to: accounts[1],
                token: address(token),
                amount: 100 + i,
                fee: 1,
                nonce: nonce,
                validAfter: 0,
                validBefore: type(uint64).max,
                ref: bytes32(i)
            });
            signatures[i] = signDigest(keys[0], hub.paymentDigest(ps[i]));
        }
        vm.prank(accounts[3]);
        assertEq(hub.settleBatch(ps, signatures), 1, "settled count");
        assertEq(hub.balanceOf(accounts[1], address(token)), 100, "only the first copy paid");
        assertEq(hub.balanceOf(accounts[3], address(token)), 1, "only the first copy's fee");
    }

    /// The digest computed from calldata in assembly equals EIP-712's definition, built here with
    /// `abi.encode` from the domain the hub reports (ERC-5267).
    function testFuzz_PaymentDigestIsEip712(ISettlementHub.Payment memory p) public view {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract, , ) = hub
            .eip712Domain();
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                PAYMENT_TYPEHASH,
                p.from,
                p.to,
                p.token,
                p.amount,
                p.fee,
                p.nonce,
                p.validAfter,
                p.validBefore,
                p.ref
            )
        );
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
        assertEq(hub.paymentDigest(p), expected, "digest");
        assertEq(chainId, block.chainid, "domain chain id");
        assertEq(verifyingContract, address(hub), "domain contract");
    }

    /// A signature made on another chain does not settle here.
    function testFuzz_SignatureForAnotherChainFails(uint64 otherChainId) public {
        vm.assume(otherChainId != block.chainid && otherChainId != 0);
        _deposit(accounts[0], 1_000);
        ISettlementHub.Payment memory p = ISettlementHub.Payment({
            from: accounts[0],
            to: accounts[1],
            token: address(token),
            amount: 10,
            fee: 0,
            nonce: 0,
            validAfter: 0,
            validBefore: type(uint64).max,
            ref: bytes32(0)
        });
        uint256 home = block.chainid;
        vm.chainId(otherChainId);
        bytes memory foreign = signDigest(keys[0], hub.paymentDigest(p));
        vm.chainId(home);
        assertFalse(
            _settle(p, foreign, accounts[3], true, ISettlementHub.FailureReason.BadSignature),
            "foreign-chain signature settled"
        );
        assertTrue(
            _settle(p, signDigest(keys[0], hub.paymentDigest(p)), accounts[3], true, ISettlementHub.FailureReason.None),
            "home signature"
        );
    }

    /// A withdrawal pays min(requested, balance), however intents changed the balance meanwhile.
    function testFuzz_WithdrawPaysMinOfRequestAndBalance(uint256 deposited, uint256 requested, uint256 spent) public {
        deposited = bound(deposited, 1, MAX_128);
        requested = bound(requested, 1, MAX_128);
        spent = bound(spent, 0, deposited);
        _deposit(accounts[0], deposited);
        vm.prank(accounts[0]);
        hub.requestWithdrawal(address(token), requested);
        ISettlementHub.Payment memory p = ISettlementHub.Payment({
            from: accounts[0],
            to: accounts[1],
            token: address(token),
            amount: spent,
            fee: 0,
            nonce: 0,
            validAfter: 0,
            validBefore: type(uint64).max,
            ref: bytes32(0)
        });
        assertTrue(
            _settle(
                p,
                signDigest(keys[0], hub.paymentDigest(p)),
                accounts[3],
                false,
                ISettlementHub.FailureReason.None
            ),
            "spend during delay"
        );
        vm.warp(block.timestamp + 1 hours);
        uint256 expected = requested < deposited - spent ? requested : deposited - spent;
        vm.prank(accounts[0]);
        assertEq(hub.withdraw(address(token), address(0xBEEF)), expected, "withdrawn amount");
        assertEq(token.balanceOf(address(0xBEEF)), expected, "recipient received");
        assertEq(hub.balanceOf(accounts[0], address(token)), deposited - spent - expected, "balance left");
    }
}
