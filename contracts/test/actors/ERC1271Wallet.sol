// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice A minimal smart-contract wallet (ERC-1271) owned by one EOA, like a 1-of-1 Safe.
/// It approves a digest signed by its owner until `setRevoked(true)`, after which it rejects
/// every signature. It can call any contract and receives native currency.
contract ERC1271Wallet is IERC1271 {
    error NotOwner();

    address public immutable owner;
    bool public revoked;

    constructor(address owner_) {
        owner = owner_;
    }

    receive() external payable {}

    function setRevoked(bool isRevoked) external {
        if (msg.sender != owner) revert NotOwner();
        revoked = isRevoked;
    }

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

    function isValidSignature(bytes32 digest, bytes calldata signature) public view virtual returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (!revoked && err == ECDSA.RecoverError.NoError && signer == owner) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}
