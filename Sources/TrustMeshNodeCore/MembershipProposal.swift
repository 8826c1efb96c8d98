public import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Drafting, signing and reading the next membership version, as files that travel between the
/// trusts' roots (each kept offline). A proposal file is a network file (`NetworkDirectory.State`
/// as JSON): every statement of the network it starts from, the draft of the next version as its
/// newest membership, and the certificates it needs (a joining trust's).
///
/// The flow (docs/ARCHITECTURE.md, "Keys and membership"): `trustmesh join` (a new trust) or
/// `trustmesh membership propose` (leave, move, replace a root, change the threshold) writes the
/// proposal; each member's root signs it (`membership sign`); once signed by the threshold, it is
/// submitted to any member node (`membership submit`) and gossip carries it to every node, which
/// applies it without a restart.
public enum MembershipProposal {
    /// A change to the current version.
    public enum Change: Sendable {
        case add(Membership.Member)
        case remove(TrustID)
        case move(TrustID, address: String)
        case replaceRoot(TrustID, root: VerifyingKey)
        case threshold(Int)
        /// The network policy's JSON (`policy.json`'s form) the version carries.
        case policy(String)
    }

    /// The newest membership version in a network file, with its signatures.
    /// - Throws: ``NodeError/configuration(path:reason:)`` if there is none.
    public static func newest(in state: NetworkDirectory.State, file: String) throws -> SignedMembership {
        guard let newest = state.memberships.max(by: { $0.membership.version < $1.membership.version }) else {
            throw NodeError.configuration(path: file, reason: "the network file holds no membership document")
        }
        return newest
    }

    /// Drafts the version after the newest in `state` with `changes`, unsigned.
    /// - Throws: ``NodeError/configuration(path:reason:)`` if a change does not apply (a trust
    ///   already a member, or not one) or the result is not a valid document.
    public static func draft(
        from state: NetworkDirectory.State, file: String, changes: [Change], now: Date = Date()
    ) throws -> Membership {
        let current = try newest(in: state, file: file).membership
        guard current.version < UInt64.max else { throw NodeError.configuration(path: file, reason: "no next version") }
        var next = current
        next.version = current.version + 1
        next.issuedAt = Timestamp.text(now)
        for change in changes {
            switch change {
            case .add(let member):
                guard next.member(member.ods) == nil else {
                    throw NodeError.configuration(path: file, reason: "\(member.ods) is already a member")
                }
                next.members.append(member)
            case .remove(let trust):
                guard next.member(trust) != nil else {
                    throw NodeError.configuration(path: file, reason: "\(trust) is not a member")
                }
                next.members.removeAll { $0.ods == trust }
            case .move(let trust, let address):
                guard let index = next.members.firstIndex(where: { $0.ods == trust }) else {
                    throw NodeError.configuration(path: file, reason: "\(trust) is not a member")
                }
                next.members[index].address = address
            case .replaceRoot(let trust, let root):
                guard let index = next.members.firstIndex(where: { $0.ods == trust }) else {
                    throw NodeError.configuration(path: file, reason: "\(trust) is not a member")
                }
                next.members[index].root = root
            case .threshold(let threshold):
                next.threshold = threshold
            case .policy(let text):
                next.policy = text
            }
        }
        next.members.sort { $0.ods < $1.ods }
        // A shrinking network keeps a threshold it can meet.
        next.threshold = min(next.threshold, next.members.count)
        do {
            try next.validate()
        } catch {
            throw NodeError.configuration(path: file, reason: "\(error)")
        }
        return next
    }

    /// What a signer is asked to sign: the proposal against the version before it, in words.
    public static func summary(of proposal: SignedMembership, in state: NetworkDirectory.State) -> String {
        let version = proposal.membership.version
        let previous = state.memberships.first { $0.membership.version + 1 == version }?.membership
        var lines = [
            "Membership of '\(proposal.membership.network)', version \(version) (threshold \(proposal.membership.threshold) of \(proposal.membership.members.count)):"
        ]
        for member in proposal.membership.members {
            var note = ""
            if let old = previous?.member(member.ods) {
                if old.address != member.address { note += "  moved from \(old.address)" }
                if old.root != member.root { note += "  ROOT REPLACED" }
            } else if previous != nil {
                note = "  JOINS"
            }
            lines.append(
                "  \(member.ods.code.padding(toLength: 6, withPad: " ", startingAt: 0))\(member.address)  \(member.name)\(note)"
            )
        }
        for member in previous?.members ?? [] where proposal.membership.member(member.ods) == nil {
            lines.append("  \(member.ods.code.padding(toLength: 6, withPad: " ", startingAt: 0))LEAVES")
        }
        if let previous, previous.policy != proposal.membership.policy {
            lines.append("  NETWORK POLICY CHANGES: " + (proposal.membership.policy ?? "(none)"))
        }
        let signedBy = proposal.signatures.map(\.ods.code).sorted()
        lines.append("Signed so far by: " + (signedBy.isEmpty ? "nobody" : signedBy.joined(separator: ", ")))
        if let previous {
            let unchanged = previous.members.filter { old in
                proposal.membership.member(old.ods)?.root ?? old.root == old.root
            }
            let old = proposal.signers(among: unchanged).count
            let own = proposal.signers(among: proposal.membership.members).count
            lines.append(
                "Needs \(previous.threshold) of version \(previous.version)'s members (has \(old)) and \(proposal.membership.threshold) of its own (has \(own))."
            )
        }
        return lines.joined(separator: "\n")
    }

    /// Replaces the newest membership in `state` by `signed` (a proposal gaining signatures).
    public static func replacingNewest(in state: NetworkDirectory.State, with signed: SignedMembership)
        -> NetworkDirectory.State
    {
        var state = state
        state.memberships.removeAll { $0.membership.version == signed.membership.version }
        state.memberships.append(signed)
        state.memberships.sort { $0.membership.version < $1.membership.version }
        return state
    }
}
