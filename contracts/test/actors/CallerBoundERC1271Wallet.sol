// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice A smart-contract wallet (ERC-1271) owned by one EOA whose answer depends on who asks:
/// it approves a digest signed by its owner only when called by `caller`, the one contract it
/// is bound to (as wallets that allow-list callers, or rehash per calling app, behave). Asked
/// by anyone else, including an `eth_call` with no `from`, it rejects every signature. It can
/// call any contract and receives native currency.
contract CallerBoundERC1271Wallet is IERC1271 {
    /// @notice Only the owner may make the wallet call out.
    error NotOwner();

    /// @notice The EOA whose signatures the wallet approves.
    address public immutable owner;
    /// @notice The only `msg.sender` for which `isValidSignature` approves anything.
    address public immutable caller;

    /// @param owner_ The EOA whose signatures the wallet approves.
    /// @param caller_ The contract that the wallet answers to.
    constructor(address owner_, address caller_) {
        owner = owner_;
        caller = caller_;
    }

    receive() external payable {}

    /// @notice Calls `target` with `value` and `data` on the owner's behalf, bubbling up a revert.
    /// @return The call's return data.
    function execute(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert NotOwner();
        // solhint-disable-next-line avoid-low-level-calls -- a wallet forwards arbitrary calls
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    /// @notice ERC-1271: the magic value when `msg.sender` is `caller` and `signature` is the
    /// owner's ECDSA signature of `digest`, `0xffffffff` otherwise.
    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4) {
        if (msg.sender != caller) return 0xffffffff;
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (err == ECDSA.RecoverError.NoError && signer == owner) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}
