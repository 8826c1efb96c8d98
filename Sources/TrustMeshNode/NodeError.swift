/// Why a node could not be created or opened.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        case alreadyInitialised(directory: String)
        case notANode(directory: String)
        case configuration(path: String, reason: String)
        case io(path: String, reason: String)
    }

    private let code: Code

    package static func alreadyInitialised(directory: String) -> NodeError {
        NodeError(code: .alreadyInitialised(directory: directory))
    }
    package static func notANode(directory: String) -> NodeError { NodeError(code: .notANode(directory: directory)) }
    package static func configuration(path: String, reason: String) -> NodeError {
        NodeError(code: .configuration(path: path, reason: reason))
    }
    package static func io(path: String, reason: String) -> NodeError {
        NodeError(code: .io(path: path, reason: reason))
    }

    public var description: String {
        switch code {
        case .alreadyInitialised(let directory):
            "\(directory) already holds a TrustMesh node; refusing to overwrite its keys and data"
        case .notANode(let directory):
            "\(directory) is not a TrustMesh node's data folder (no node.json): create one with `trustmesh init`"
        case .configuration(let path, let reason):
            "\(path): \(reason)"
        case .io(let path, let reason):
            "\(path): \(reason)"
        }
    }
}
