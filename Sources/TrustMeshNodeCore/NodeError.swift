/// Why a node could not be created or opened.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        case alreadyInitialised(directory: String)
        case notANode(directory: String)
        case configuration(path: String, reason: String)
        case io(path: String, reason: String)
        case alreadyRunning(directory: String, pid: String)
        case addressInUse(String)
        case copyHidden(studyUID: String, note: String)
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

    package static func alreadyRunning(directory: String, pid: String) -> NodeError {
        NodeError(code: .alreadyRunning(directory: directory, pid: pid))
    }
    package static func addressInUse(_ addresses: String) -> NodeError { NodeError(code: .addressInUse(addresses)) }
    /// A copy held here is not served: its origin withdrew or corrected the study (the note says which).
    package static func copyHidden(studyUID: String, note: String) -> NodeError {
        NodeError(code: .copyHidden(studyUID: studyUID, note: note))
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
        case .alreadyRunning(let directory, let pid):
            "a node is already running on \(directory) (process \(pid)): two nodes on one data folder would "
                + "serve and gossip as one trust twice; stop that one first"
        case .addressInUse(let addresses):
            "cannot listen on \(addresses): the address is in use (another node or program has it); "
                + "stop it, or change the address in the topology"
        case .copyHidden(let studyUID, let note):
            "study \(studyUID) is not served here: \(note)"
        }
    }
}
