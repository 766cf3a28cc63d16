// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ITokenHook} from "../tokens/CallbackToken.sol";

/// @notice A hostile party that, whenever it is paid (native currency through `receive`, or a
/// {CallbackToken} transfer through its ERC-777-style hook, incoming or outgoing), tries to re-enter
/// a settlekit contract with configurable call data, and records how that call ended.
/// @dev The attempt fits the 30,000-gas stipend of a native push: the call data is kept as the code
/// of a data contract (read with one EXTCODECOPY instead of one cold SLOAD per word), and the record
/// slot is written non-zero by the constructor, so an update costs 5,000 gas rather than 22,100. With `rejecting`
/// set, the attacker also refuses the payment after its attempt (the payer must then defer it); with
/// `burning` set it burns all the gas it is given instead (INVALID), like a gas-burning receiver.
/// Any test can drive it: it forwards arbitrary calls through {execute}.
contract ReentrancyAttacker is ITokenHook {
    /// @notice The attacker was paid and tried `target` with `selector`; `succeeded` says whether the
    /// re-entrant call went through and `revertSelector` is the first four bytes of its revert data.
    event ReentryAttempted(address indexed target, bytes4 indexed selector, bool succeeded, bytes4 revertSelector);

    /// @notice The attacker refused a payment (with `rejecting` set).
    error ReentrancyAttackerRefused();

    /// @notice How the last re-entrant call ended (one slot: cheap to update under a stipend).
    struct Record {
        uint64 attempts;
        uint64 successes;
        bytes4 lastRevertSelector;
        bool lastSucceeded;
    }

    /// @notice The data contract could not be deployed.
    error ReentrancyAttackerDataStoreFailed();

    address public reentryTarget;
    bool public armed;
    bool public rejecting;
    bool public burning;
    /// @dev A contract whose code is the re-entry call data.
    address private _dataStore;
    Record private _record;
    /// @dev Set during an attempt, so a payment the re-entrant call itself triggers does not recurse.
    bool private transient _attempting;

    constructor() {
        // Non-zero from the start, so that the first update under a stipend is not a fresh write.
        _record = Record({attempts: 0, successes: 0, lastRevertSelector: bytes4(0), lastSucceeded: true});
    }

    receive() external payable {
        _onPaid();
    }

    /// @notice Arms the attacker: every later payment triggers `target.call(data)`.
    /// @param target_ The contract to re-enter.
    /// @param data The call data of the re-entrant call.
    function arm(address target_, bytes calldata data) external {
        reentryTarget = target_;
        _dataStore = _storeAsCode(data);
        armed = true;
    }

    /// @notice Stops re-entering.
    function disarm() external {
        armed = false;
    }

    /// @notice With `reject` set, the attacker refuses every payment after its attempt.
    function setRejecting(bool reject) external {
        rejecting = reject;
    }

    /// @notice With `burn` set, the attacker burns all the gas it is given on every payment.
    function setBurning(bool burn) external {
        burning = burn;
    }

    /// @notice Registers this contract's hook with a {CallbackToken}.
    function registerHook(address token) external {
        CallbackTokenLike(token).setHook(true);
    }

    /// @notice Acts as this contract: calls `to` with `value` and `data`, bubbling up a revert.
    function execute(address to, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls -- a test actor forwarding arbitrary calls
        (bool ok, bytes memory ret) = to.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    /// @inheritdoc ITokenHook
    function onTokenTransfer(address, address, uint256) external {
        _onPaid();
    }

    /// @notice What the re-entrant calls so far came to.
    function record() external view returns (Record memory) {
        return _record;
    }

    function _onPaid() private {
        if (armed && !_attempting) {
            _attempting = true;
            _attempt();
            _attempting = false;
        }
        if (rejecting) revert ReentrancyAttackerRefused();
        if (burning) {
            assembly {
                invalid()
            }
        }
    }

    /// @dev Deploys a contract whose code is `0x00 ‖ data` (the init code copies the rest of itself
    /// and returns it; the leading STOP keeps the code from starting with 0xEF, which EIP-3541 forbids).
    function _storeAsCode(bytes memory data) private returns (address store) {
        bytes memory initCode = abi.encodePacked(hex"61", uint16(data.length + 1), hex"80600a3d393df300", data);
        assembly ("memory-safe") {
            store := create(0, add(initCode, 32), mload(initCode))
        }
        if (store == address(0)) revert ReentrancyAttackerDataStoreFailed();
    }

    /// @dev Makes the re-entrant call without copying its return data, then keeps its first word.
    function _attempt() private {
        address to = reentryTarget;
        address store = _dataStore;
        bytes memory data;
        assembly ("memory-safe") {
            let size := sub(extcodesize(store), 1)
            data := mload(0x40)
            mstore(data, size)
            extcodecopy(store, add(data, 32), 1, size)
            mstore(0x40, add(add(data, 32), and(add(size, 31), not(31))))
        }
        bool ok;
        bytes4 revertSelector;
        assembly ("memory-safe") {
            ok := call(gas(), to, 0, add(data, 32), mload(data), 0, 0)
            if and(iszero(ok), gt(returndatasize(), 3)) {
                returndatacopy(0, 0, 4)
                revertSelector := mload(0)
            }
        }
        Record memory r = _record;
        r.attempts += 1;
        if (ok) r.successes += 1;
        r.lastSucceeded = ok;
        r.lastRevertSelector = revertSelector;
        _record = r;
        emit ReentryAttempted(to, bytes4(data), ok, revertSelector);
    }
}

/// @dev The one {CallbackToken} function the attacker needs.
interface CallbackTokenLike {
    function setHook(bool enabled) external;
}
