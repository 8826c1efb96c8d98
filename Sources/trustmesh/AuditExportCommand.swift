import ArgumentParser
import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

extension AuditCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a node's audit log: JSON Lines, a FHIR AuditEvent Bundle or DICOM audit messages.",
            discussion: """
                jsonl (the default) is TrustMesh's own format, with the peer checkpoints and tree heads \
                the node holds: what `audit verify` and `audit replay` read (docs/AUDIT-FORMAT.md).

                fhir is a FHIR R4 Bundle of AuditEvent resources following IHE Basic Audit Log Patterns \
                (PatientQuery, PatientRead, PrivacyDisclosure at source and recipient), patients by NHS \
                number, studies by Study Instance UID: what a Patient Audit Record service or an FHIR \
                audit repository reads.

                dicom is one DICOM PS3.15 A.5 audit message (XML) per line, valid against the A.5.1 \
                schema (docs/schemas/dicom-audit-message.rnc): what an ATNA audit record repository reads.

                Exporting the log discloses it, so the node audits it first (kind auditExported, by the \
                operating-system user); the file includes that entry. The mapping of every kind is in \
                docs/ARCHITECTURE.md, "Audit in the NHS's formats".

                  trustmesh audit export --data DIR --out rrk.jsonl
                  trustmesh audit export --data DIR --format fhir --out rrk-audit.json
                  trustmesh audit export --data DIR --format dicom --out rrk-audit.xml
                """)

        /// What `--format` names.
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case jsonl, fhir, dicom
        }

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The file to write; it must not exist.", valueName: "FILE"))
        var out: String

        @Option(
            help: ArgumentHelp(
                "jsonl (TrustMesh's own, verifiable), fhir (FHIR R4 AuditEvent Bundle) or dicom (PS3.15 audit messages)."
            ))
        var format: Format = .jsonl

        func run() throws {
            let node = try LocalNode(directory: data)
            let trust = node.configuration.trust
            let path = URL(fileURLWithPath: out).standardizedFileURL.path
            guard !FileManager.default.fileExists(atPath: path) else {
                throw UserError("cannot write \(out): it must not exist already")
            }
            // The export discloses the log: audited before the file is written, and part of it.
            let count = try node.store.audit.count() + 1
            try node.audit(
                .auditExported, actor: LocalNode.localOperator,
                subject: [.format: format.rawValue, .entries: "\(count)"], details: path)
            let entries = try node.store.audit.all()
            let held = try node.store.audit.checkpoints().map { HeldCheckpoint(heldBy: trust, checkpoint: $0) }
            let heads = try node.store.audit.treeHeads().map { HeldTreeHead(heldBy: trust, treeHead: $0) }
            let recorder = AuditRecorder(trust: trust, name: node.configuration.name)
            let bytes: [UInt8]
            switch format {
            case .jsonl:
                bytes = try AuditExport(entries: entries, checkpoints: held, treeHeads: heads).jsonLines()
            case .fhir:
                bytes = try FHIRAuditEvents.bundle(entries, recorder: recorder, timestamp: CareTime.format(Date()))
            case .dicom: bytes = DICOMAuditMessages.lines(entries, recorder: recorder)
            }
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: path), options: [.withoutOverwriting])
            } catch {
                throw UserError("cannot write \(out) (it must not exist already): \(error.localizedDescription)")
            }
            var summary = "Exported \(entries.count) audit entr\(entries.count == 1 ? "y" : "ies") of \(trust)"
            if let head = entries.last { summary += " (#1–#\(head.sequence), head \(head.hash.hex.prefix(16))…)" }
            switch format {
            case .jsonl:
                let checkpoints =
                    held.isEmpty ? "" : " and \(held.count) version 1 checkpoint\(held.count == 1 ? "" : "s")"
                print(
                    summary + ", \(heads.count) tree head\(heads.count == 1 ? "" : "s") (this node's and its peers')"
                        + checkpoints + " to \(out)")
            case .fhir: print(summary + " as a FHIR Bundle of \(entries.count) AuditEvents to \(out)")
            case .dicom: print(summary + " as \(entries.count) DICOM audit messages to \(out)")
            }
            if !entries.isEmpty {
                do {
                    _ = try AuditChain.verify(entries, trust: trust, key: node.configuration.signingPublicKey)
                } catch {
                    Output.error("the exported log does not verify with this node's key: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}
