import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "A trust's root key, and rotating or revoking its node's keys.",
        discussion: """
            Each trust has a root key that stays off the node (removable media kept locked away, or \
            an offline machine). The root certifies the node's online keys (a signed certificate: \
            the trust, the keys and their purposes, a validity period, a serial) and revokes them. \
            Peers believe a node key only through a certificate from the trust's root as the signed \
            membership document names it.
              trustmesh keys root-init --out /media/root-RRK --trust RRK
              trustmesh keys rotate --data /srv/trustmesh --root /media/root-RRK
              trustmesh keys revoke --data /srv/trustmesh --root /media/root-RRK --key KEY --reason compromised --since 2026-12-01T09:00:00Z
            """,
        subcommands: [RootInit.self, Rotate.self, Revoke.self, Show.self]
    )

    struct RootInit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "root-init",
            abstract: "Make a trust's root key in a new folder, to keep off the node.",
            discussion: """
                Writes OUT/root.key (0600) and OUT/root.json (the trust, the root's public key, the \
                last certificate serial issued). Keep the folder on removable media or an offline \
                machine: it is needed only to certify or revoke node keys and to sign membership \
                documents, never to run the node. Whoever holds it can speak for the trust's node.
                """)

        @Option(help: ArgumentHelp("Folder for the root key (created, 0700).", valueName: "OUT"))
        var out: String

        @Option(help: ArgumentHelp("The trust's ODS code.", valueName: "ODS"))
        var trust: String

        func run() throws {
            let id: TrustID
            do { id = try TrustID(trust) } catch { throw UserError("--trust: \(error)") }
            LocalNode.protectNewFiles()
            let root = try TrustRoot.create(directory: out, trust: id)
            print("Root key of \(id) made in \(out) (root.key 0600).")
            print("Its public key, for the membership document: \(root.key.verifyingKey.base64)")
            print("Keep this folder off the node: removable media kept locked away, or an offline machine.")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give the node new keys, certified by the trust's root.",
            discussion: """
                Makes new signing and agreement keys on this machine (DIR/keys/next/, 0600), \
                certifies them with the root (the next serial; valid from five minutes ago for a \
                year), and stores the certificate, which gossip carries to every node. If the node is \
                not running it switches now; if it is, it switches on its next network round. Its \
                audit log's first entry signed with the new key is keyChanged, naming the old key. \
                Peers accept requests signed with the previous key for ten minutes after the new \
                certificate starts, so work in flight is not refused. The old key is kept in \
                DIR/keys/retired/; revoke it if it may have been stolen.
                """)

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The trust's root folder (keys root-init).", valueName: "ROOTDIR"))
        var root: String

        func run() throws {
            LocalNode.protectNewFiles()
            let node = try LocalNode(directory: data)
            var trustRoot = try TrustRoot(directory: root)
            let rotation = try node.rotateKeys(root: &trustRoot)
            let certificate = rotation.certificate
            print(
                "New keys of \(certificate.trust) certified: certificate #\(certificate.serial), valid \(certificate.notBefore) to \(certificate.notAfter)."
            )
            print("  signing key \(certificate.signingKey.base64)")
            print(
                rotation.adopted
                    ? "The node was not running: it uses the new keys from now on."
                    : "The running node switches to them on its next network round; gossip carries the certificate to every peer."
            )
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a node signing key: retired, or compromised since a moment.",
            discussion: """
                Signs a revocation with the trust's root (--root) or with the node's own current key \
                (--self, when the root is out of reach), and stores it for gossip to carry. Every \
                node that holds it refuses whatever the key signed from --since on — requests, index \
                records, care relationships, audit entries, tree heads — and audits the refusals; \
                what it signed before stays valid. Revoke a stolen key from the moment it may have \
                been taken (an earlier --since wins over a later one). Rotate first: a trust whose \
                only key is revoked cannot talk to its peers.
                """)

        @Option(help: ArgumentHelp("The node's data folder (the revocation is stored there).", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The trust's root folder.", valueName: "ROOTDIR"))
        var root: String?

        @Flag(name: .customLong("self"), help: "Sign with the node's own current key instead of the root.")
        var bySelf = false

        @Option(
            help: ArgumentHelp("The signing key to revoke (base64); default: the node's current key.", valueName: "KEY")
        )
        var key: String?

        @Option(help: ArgumentHelp("retired or compromised.", valueName: "REASON"))
        var reason: String

        @Option(help: ArgumentHelp("From when (YYYY-MM-DDTHH:MM:SSZ, or now).", valueName: "TIME"))
        var since: String = "now"

        func run() throws {
            guard let why = KeyRevocation.Reason(rawValue: reason) else {
                throw UserError("--reason: '\(reason)' is neither retired nor compromised")
            }
            let now = Date()
            let moment = since == "now" ? now : Timestamp.date(since)
            guard let moment else { throw UserError("--since: '\(since)' is not YYYY-MM-DDTHH:MM:SSZ or now") }
            guard (root == nil) != !bySelf else { throw UserError("give either --root ROOTDIR or --self") }
            let node = try LocalNode(directory: data)
            let revoked: VerifyingKey
            if let key {
                do { revoked = try VerifyingKey(base64: key) } catch {
                    throw UserError("--key: not a signing key: \(error)")
                }
            } else {
                revoked = try node.signingKey().verifyingKey
            }
            let signer: SigningKey
            if let root {
                let trustRoot = try TrustRoot(directory: root)
                guard trustRoot.trust == node.configuration.trust else {
                    throw UserError("--root is \(trustRoot.trust)'s root; the node is \(node.configuration.trust)'s")
                }
                signer = trustRoot.key
            } else {
                signer = try node.signingKey()
                guard signer.verifyingKey == revoked else {
                    throw UserError("--self revokes the node's own current key only; use --root for another")
                }
            }
            let revocation = KeyRevocation.sign(
                trust: node.configuration.trust, key: revoked, reason: why, since: Timestamp.text(moment),
                issuedAt: Timestamp.text(now), by: signer)
            try node.addNetworkStatements(NetworkDirectory.State(revocations: [revocation]))
            try node.audit(
                .keyRevoked, actor: LocalNode.localOperator,
                subject: [.peer: node.configuration.trust.code, .rule: why.rawValue],
                details: String(decoding: try JSONEncoder().encode(revocation), as: UTF8.self))
            print(
                "Key \(revoked.base64.prefix(12))… of \(node.configuration.trust) revoked: \(why.rawValue) since \(revocation.since)."
            )
            print("Stored for gossip: every node refuses what it signed from then on once the revocation reaches it.")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the key certificates and revocations a node holds.")

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        func run() throws {
            let node = try LocalNode(directory: data)
            let state = try node.networkStatements()
            let current = try node.signingKey().verifyingKey
            print("Node \(node.configuration.trust), signing key \(current.base64)")
            for certificate in state.certificates.sorted(by: { ($0.trust, $0.serial) < ($1.trust, $1.serial) }) {
                let mark = certificate.signingKey == current ? "  (this node's current key)" : ""
                print(
                    "  \(Output.column(certificate.trust.code, 5)) #\(certificate.serial) \(certificate.notBefore) – \(certificate.notAfter) signing \(certificate.signingKey.base64.prefix(12))…\(mark)"
                )
            }
            for revocation in state.revocations {
                print(
                    "  \(Output.column(revocation.trust.code, 5)) revoked \(revocation.key.base64.prefix(12))… \(revocation.reason.rawValue) since \(revocation.since)"
                )
            }
        }
    }
}
