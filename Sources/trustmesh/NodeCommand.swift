import ArgumentParser
import Foundation
import TrustMeshAccess
import TrustMeshDIMSE
import TrustMeshGossip
import TrustMeshHL7
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshPolicy
import TrustMeshPrefetch

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: serve peers and the local API, and gossip the index.",
        subcommands: [Run.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the trust's peers and its own people until SIGINT or SIGTERM.",
            discussion: """
                Two listeners. The peer listener, at the address the topology gives this node's \
                trust, serves only the peer protocol (/peer/v1/…: every request signed by a pinned \
                peer and sealed to this node); every other trust must be able to reach it. The \
                local listener (--local-address, default 127.0.0.1 and the peer port + 1000) serves \
                the trust's own people and systems: the page, the JSON API (/api/v1/…), DICOMweb \
                (/dicom-web), FHIR (/fhir: ImagingStudy search; Appointment, ServiceRequest and \
                Subscription notifications posted by the hospital's systems, the FHIR feed) and \
                /metrics. Each answers 404 for the other's routes, so \
                the local listener can sit behind the trust's own network controls. Every round the \
                node exchanges index digests with a few random peers and trades only the records one \
                side lacks. Stops cleanly on Ctrl-C or SIGTERM; started again, it resumes from its \
                database.

                With --dicom-port the node also speaks DICOM on the local listener's host, so a \
                PACS or workstation needs no TrustMesh software: C-ECHO; C-STORE (each \
                instance is ingested exactly as `trustmesh ingest` does, stored as sent, \
                never transcoded; the study's index record is published when the \
                association ends); C-FIND at SERIES and IMAGE level for studies held here; and \
                C-FIND at PATIENT and STUDY level (Study Root and \
                Patient Root), answered from the federated index: a query by PatientID \
                (the NHS number) lists the patient's studies at every trust, with \
                RetrieveAETitle and InstitutionName naming the trust that holds each. \
                Every query is audited. C-FIND and C-MOVE are answered only for the calling AE titles \
                given with --query-retrieve-ae (others: Refused: Not Authorized, audited). C-MOVE (Study Root and Patient Root, STUDY and \
                SERIES level) sends studies held here, as stored, to a destination named \
                with --move-destination; a study held only at another trust is not moved \
                (fetch it first with `trustmesh fetch`). Example, from the PACS side with dcmtk:

                  echoscu -aec TM_RRK 127.0.0.1 11112
                  storescu -aec TM_RRK +sd +r 127.0.0.1 11112 STUDY_FOLDER
                  findscu -S -aec TM_RRK -k QueryRetrieveLevel=STUDY -k PatientID=9434765919 \\
                          -k StudyDate -k ModalitiesInStudy -k RetrieveAETitle 127.0.0.1 11112
                  movescu -S -aec TM_RRK -aem PACS1 -k QueryRetrieveLevel=STUDY \\
                          -k StudyInstanceUID=1.2.3 127.0.0.1 11112
                  (the node run with --move-destination PACS1=HOST:PORT)

                Limits that hold before anyone shows a credential (docs/ARCHITECTURE.md, \
                "Limits"): on both HTTP listeners a connection must send its first request's \
                head within --header-timeout and is closed after --idle-timeout without a \
                request part; one client address holds at most --max-connections-per-address \
                connections per listener (raise it when a reverse proxy or NAT puts many \
                people behind one address). A peer request's headers (sender, addressee, \
                timestamp) are checked before its body is read, and each peer route caps its \
                body. STOW-RS requests over --stow-max-bytes are answered 413 before anything \
                is stored. On the DICOM port a connection counts against \
                --dicom-max-associations only once its A-ASSOCIATE-RQ arrives (--dicom-timeout \
                closes the rest), and one address holds at most --dicom-max-per-address \
                connections. Refusals are audited once per source per --refusal-audit-window, \
                then counted.
                """
        )

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The network's topology, with public keys.", valueName: "FILE"))
        var topology: String?

        @Option(
            help: ArgumentHelp(
                "The network file: the signed membership document taken on trust, key certificates and revocations (network create writes it as network.json); default: network.json beside the topology if there is one. With it, members and keys follow signed statements by gossip, without a restart.",
                valueName: "FILE"))
        var network: String?

        @Option(
            help: ArgumentHelp(
                "Where the trust's own people and systems reach the node (page, API, DICOMweb, FHIR, metrics). Default: 127.0.0.1 and the peer port + 1000.",
                valueName: "HOST:PORT"))
        var localAddress: String?

        @Option(
            help: ArgumentHelp(
                "The base URL people and systems use for the local listener, e.g. https://trustmesh.rkb.nhs.uk (absolute links are built from it). Default: http://LOCAL-ADDRESS.",
                valueName: "URL"))
        var publicUrl: String?

        @Option(
            help: ArgumentHelp(
                "The access file: the identity provider, this node's client, the role map (docs/ARCHITECTURE.md, \"Sign-in\"). Without it every door of the local listener refuses but health and assets.",
                valueName: "FILE"))
        var access: String?

        @Option(help: ArgumentHelp("PEM certificate chain: the local listener serves HTTPS.", valueName: "FILE"))
        var tlsCertificate: String?

        @Option(help: ArgumentHelp("PEM private key for --tls-certificate.", valueName: "FILE"))
        var tlsKey: String?

        @Option(
            help: ArgumentHelp(
                "The network policy (care relationship caps per kind, clock skew). Under signed membership (a network file) the policy the current membership version carries applies, and this overrides it; without, the default is policy.json beside the topology if there is one, else the defaults.",
                valueName: "FILE"))
        var policy: String?

        @Option(help: "Peers contacted each round.")
        var fanout: Int = 3

        @Option(help: "Milliseconds between gossip rounds.")
        var intervalMs: Int = 1000

        @Option(help: "Most index records sent in one message.")
        var batchSize: Int = 500

        @Option(help: "Compressed kilobytes asked for per chunk batch when fetching.")
        var fetchBatchKb: Int = 8192

        @Option(
            name: [.customLong("tree-head-seconds"), .customLong("checkpoint-seconds")],
            help: ArgumentHelp(
                "Seconds between signed tree heads of the audit log, sent to peers when the log grew; peers' heads "
                    + "are checked for consistency as often. (Was --checkpoint-seconds, still accepted.)",
                valueName: "SECONDS"))
        var treeHeadSeconds: Int = 30

        @Option(
            help: ArgumentHelp(
                "Port for DICOM associations (C-ECHO, C-STORE, C-FIND); absent or 0: no DICOM listener.",
                valueName: "PORT"))
        var dicomPort: Int = 0

        @Option(
            help: ArgumentHelp(
                "The node's DICOM AE title (default: TM_ and the trust's ODS code, e.g. TM_RRK).", valueName: "AE"))
        var aeTitle: String?

        @Option(
            help: ArgumentHelp(
                "Calling AE titles allowed to associate, comma-separated; others are rejected (\"calling AE title not recognised\"). Default: any.",
                valueName: "AE,AE,..."))
        var allowedAe: String?

        @Option(
            help: ArgumentHelp(
                "Calling AE titles whose C-FIND and C-MOVE are answered, comma-separated; others get \"Refused: Not Authorized\" (0124H), audited. Default: none (the DICOM listener stores and echoes only).",
                valueName: "AE,AE,..."))
        var queryRetrieveAe: String?

        @Flag(help: "Reject associations whose called AE title is not --ae-title (\"called AE title not recognised\").")
        var checkCalledAe = false

        @Option(
            help: ArgumentHelp(
                "Seconds a DICOM peer has to complete its association request, and may stay idle once associated.",
                valueName: "SECONDS"))
        var dicomTimeout: Double = 30

        @Option(
            help: ArgumentHelp(
                "A C-MOVE destination: its AE title and where it listens (repeatable). A C-MOVE to an AE title not given here is refused (\"Move Destination unknown\").",
                valueName: "AE=HOST:PORT"))
        var moveDestination: [String] = []

        @Option(
            help: ArgumentHelp(
                "Seconds a new HTTP connection (either listener) has to send its first request's complete head; then it is closed.",
                valueName: "SECONDS"))
        var headerTimeout: Double = 10

        @Option(
            help: ArgumentHelp(
                "Seconds an HTTP connection may go without sending any of a request (a stalled body, an unused kept-alive connection); then it is closed.",
                valueName: "SECONDS"))
        var idleTimeout: Double = 60

        @Option(
            help: ArgumentHelp(
                "HTTP connections one client address may hold open on each listener; more are closed on accept. Raise it when a proxy or NAT puts many people behind one address.",
                valueName: "N"))
        var maxConnectionsPerAddress: Int = 64

        @Option(
            help: ArgumentHelp(
                "Largest STOW-RS request body in bytes (default 4 GiB); a larger request is answered 413 before anything is stored.",
                valueName: "BYTES"))
        var stowMaxBytes: Int = 4 << 30

        @Option(
            help: ArgumentHelp(
                "Port for HL7 v2 messages over MLLP from the trust's PAS and RIS (appointments, admissions, imaging orders); absent or 0: no HL7 listener. Needs --hl7-allow.",
                valueName: "PORT"))
        var hl7Port: Int = 0

        @Option(
            help: ArgumentHelp(
                "An address or CIDR block allowed to send HL7 v2 messages (repeatable); connections from any other are closed before a byte is read, and audited.",
                valueName: "ADDRESS"))
        var hl7Allow: [String] = []

        @Option(
            help: ArgumentHelp("Seconds an HL7 v2 connection may stay silent; then it is closed.", valueName: "SECONDS")
        )
        var hl7IdleTimeout: Double = 300

        @Option(help: ArgumentHelp("HL7 v2 connections open at once; more are closed on accept.", valueName: "N"))
        var hl7MaxConnections: Int = 16

        @Option(
            help: ArgumentHelp(
                "Pre-fetch rules (JSON): which feed events bring which prior imaging, and when (docs/ARCHITECTURE.md, \"Pre-fetch from the hospital's feeds\"); absent: feed events are audited and fetch nothing.",
                valueName: "FILE"))
        var prefetchRules: String?

        @Option(
            help: ArgumentHelp(
                "Trusts (ODS codes, comma-separated; repeatable) whose emergency pushes this node accepts: a clinician there sends a study to a named clinician here (`trustmesh push`), this node fetches it at once and notifies (the page's inbox, --push-notify-email). Only kind emergency with a reason; a push from any other trust is refused and audited. Absent: no push is accepted.",
                valueName: "ODS,..."))
        var acceptPushFrom: [String] = []

        @Option(
            help: ArgumentHelp(
                "E-mail address told of every emergency push received (the study, the sending trust, the clinician, the reason, whether it arrived; never the NHS number). Needs --smtp.",
                valueName: "ADDRESS"))
        var pushNotifyEmail: String?

        @Option(
            help: ArgumentHelp(
                "The trust's SMTP relay for push notices: plain SMTP, no TLS or login (a relay inside the trust); each step times out after 10 s and a failure is logged, never holding the push.",
                valueName: "HOST:PORT"))
        var smtp: String?

        @Option(
            help: ArgumentHelp("Sender address of push notices (default trustmesh@ODS.invalid).", valueName: "ADDRESS"))
        var pushNotifyFrom: String?

        @Option(
            help: ArgumentHelp(
                "DICOM associations served at once; more are rejected (transient, local limit exceeded). A connection counts only once its A-ASSOCIATE-RQ has arrived.",
                valueName: "N"))
        var dicomMaxAssociations: Int = 32

        @Option(
            help: ArgumentHelp(
                "DICOM connections one address may hold open at once (associated or not); more are closed on accept.",
                valueName: "N"))
        var dicomMaxPerAddress: Int = 16

        @Option(
            help: ArgumentHelp(
                "Refusals from one source (an address, or a verified peer) are audited once per window of this many seconds, then written as one count when it ends.",
                valueName: "SECONDS"))
        var refusalAuditWindow: Int = 60

        @Option(
            help: ArgumentHelp(
                "Forward every new audit entry as a DICOM PS3.15 audit message over syslog (RFC 5424) on TLS (RFC 5425) to this collector; needs --audit-syslog-ca. Unsent entries wait in the log, across restarts.",
                valueName: "HOST:PORT"))
        var auditSyslog: String?

        @Option(
            help: ArgumentHelp(
                "PEM certificate authorities the --audit-syslog collector's certificate must chain to (its name or IP address is checked too).",
                valueName: "FILE"))
        var auditSyslogCa: String?

        @Option(
            help: ArgumentHelp(
                "The most audit entries the forwarder may fall behind; older unsent ones are skipped, announced to the collector, and stay in the log for `audit export`.",
                valueName: "N"))
        var auditSyslogBacklog: Int = 100_000

        func validate() throws {
            if !(headerTimeout > 0) { throw ValidationError("--header-timeout must be more than 0 seconds") }
            if !(idleTimeout > 0) { throw ValidationError("--idle-timeout must be more than 0 seconds") }
            if maxConnectionsPerAddress < 1 {
                throw ValidationError("--max-connections-per-address must be at least 1")
            }
            if stowMaxBytes < 1 { throw ValidationError("--stow-max-bytes must be at least 1") }
            if dicomMaxAssociations < 1 { throw ValidationError("--dicom-max-associations must be at least 1") }
            if dicomMaxPerAddress < 1 { throw ValidationError("--dicom-max-per-address must be at least 1") }
            if refusalAuditWindow < 1 { throw ValidationError("--refusal-audit-window must be at least 1 second") }
            if dicomPort < 0 || dicomPort > 65535 { throw ValidationError("--dicom-port must be 0–65535") }
            if hl7Port < 0 || hl7Port > 65535 { throw ValidationError("--hl7-port must be 0–65535") }
            if hl7Port > 0, hl7Allow.isEmpty {
                throw ValidationError(
                    "--hl7-port needs --hl7-allow ADDRESS (repeatable; an address or CIDR block): the HL7 listener "
                        + "accepts no sender unless one is named")
            }
            for value in hl7Allow {
                do { _ = try HL7AddressRange(value) } catch { throw ValidationError("\(error)") }
            }
            if !(hl7IdleTimeout > 0) { throw ValidationError("--hl7-idle-timeout must be more than 0 seconds") }
            if hl7MaxConnections < 1 { throw ValidationError("--hl7-max-connections must be at least 1") }
            _ = try pushSettings()
            if let aeTitle, aeTitle.isEmpty || aeTitle.count > 16 || !aeTitle.allSatisfy({ $0.isASCII && $0 != "\\" }) {
                throw ValidationError("--ae-title must be 1–16 ASCII characters without backslash")
            }
            if !(dicomTimeout > 0) { throw ValidationError("--dicom-timeout must be more than 0 seconds") }
            var seen: Set<String> = []
            for value in moveDestination {
                let destination = try Self.moveDestination(value)
                guard seen.insert(destination.aeTitle).inserted else {
                    throw ValidationError("--move-destination names \(destination.aeTitle) twice")
                }
            }
            if (tlsCertificate == nil) != (tlsKey == nil) {
                throw ValidationError("give --tls-certificate and --tls-key together")
            }
            if fanout < 1 { throw ValidationError("--fanout must be at least 1") }
            if intervalMs < 10 { throw ValidationError("--interval-ms must be at least 10") }
            if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
            if fetchBatchKb < 1 { throw ValidationError("--fetch-batch-kb must be at least 1") }
            if treeHeadSeconds < 1 { throw ValidationError("--tree-head-seconds must be at least 1") }
            if (auditSyslog == nil) != (auditSyslogCa == nil) {
                throw ValidationError("give --audit-syslog and --audit-syslog-ca together")
            }
            if let auditSyslog, let auditSyslogCa {
                do {
                    _ = try AuditSyslogSettings(
                        address: auditSyslog, caFile: auditSyslogCa, backlog: auditSyslogBacklog)
                } catch { throw ValidationError("\(error)") }
            }
        }

        /// `AE=HOST:PORT`: an AE title of 1–16 characters of the default repertoire, no backslash and
        /// no control characters (PS3.5 §6.2, AE), and a port 1–65535.
        /// The trusts `--accept-push-from` names and the e-mail settings of `--push-notify-email`, checked.
        func pushSettings(trust: TrustID? = nil) throws -> (accept: Set<TrustID>, mail: PushMailSettings?) {
            var accept: Set<TrustID> = []
            for code in acceptPushFrom.flatMap({ $0.split(separator: ",") }) {
                let text = code.trimmingCharacters(in: .whitespaces)
                guard !text.isEmpty else { continue }
                do { accept.insert(try TrustID(text)) } catch {
                    throw ValidationError("--accept-push-from: '\(text.prefix(16))' is not an ODS code")
                }
            }
            guard let to = pushNotifyEmail else {
                if smtp != nil { throw ValidationError("--smtp is for push notices: give --push-notify-email too") }
                return (accept, nil)
            }
            guard let smtp, let colon = smtp.lastIndex(of: ":"), let port = Int(smtp[smtp.index(after: colon)...])
            else {
                throw ValidationError("--push-notify-email needs --smtp HOST:PORT (the trust's SMTP relay)")
            }
            do {
                let from = pushNotifyFrom ?? "trustmesh@\((trust?.code ?? "node").lowercased()).invalid"
                return (accept, try PushMailSettings(host: String(smtp[..<colon]), port: port, to: to, from: from))
            } catch let error as NodeSettingError {
                throw ValidationError(error.description)
            }
        }

        /// The rules file `--prefetch-rules` names, read and checked; a problem names the file and
        /// the JSON path of the value at fault.
        static func readPrefetchRules(_ path: String) throws -> PrefetchRules {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ValidationError("--prefetch-rules \(path): cannot be read (\(error.localizedDescription))")
            }
            do { return try PrefetchRules(json: data) } catch {
                throw ValidationError("--prefetch-rules \(path): \(error)")
            }
        }

        static func moveDestination(_ value: String) throws -> DIMSEMoveDestination {
            let usage = "--move-destination \"\(value)\": expected AE=HOST:PORT, e.g. PACS1=10.0.0.5:104"
            guard let equals = value.firstIndex(of: "="), let colon = value.lastIndex(of: ":"), colon > equals else {
                throw ValidationError(usage)
            }
            let ae = value[..<equals].trimmingCharacters(in: .whitespaces)
            let host = String(value[value.index(after: equals)..<colon])
            let port = Int(value[value.index(after: colon)...])
            guard !ae.isEmpty, ae.count <= 16,
                ae.allSatisfy({ $0 != "\\" && ($0.asciiValue.map { (0x20..<0x7F).contains($0) } ?? false) })
            else {
                throw ValidationError(
                    "--move-destination \"\(value)\": the AE title must be 1–16 ASCII characters, "
                        + "no backslash or control characters")
            }
            guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else {
                throw ValidationError("--move-destination \"\(value)\": no host; \(usage)")
            }
            guard let port, (1...65535).contains(port) else {
                throw ValidationError("--move-destination \"\(value)\": the port must be 1–65535")
            }
            return DIMSEMoveDestination(aeTitle: ae, host: host, port: port)
        }

        func run() async throws {
            LocalNode.protectNewFiles()
            let node = try LocalNode(directory: data)
            let trust = node.configuration.trust
            let ae = aeTitle ?? NodeRuntime.defaultAETitle(for: trust)
            var dicom: DIMSEServer.Configuration?
            if dicomPort > 0 {
                let allowed = allowedAe.map { list in
                    Set(
                        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                            !$0.isEmpty
                        })
                }
                dicom = DIMSEServer.Configuration(
                    host: "", port: dicomPort, aeTitle: ae, checkCalledAETitle: checkCalledAe,
                    allowedCallingAETitles: allowed, timeout: .milliseconds(Int(dicomTimeout * 1000)),
                    maximumAssociations: dicomMaxAssociations,
                    moveDestinations: try moveDestination.map(Self.moveDestination),
                    maximumConnectionsPerAddress: dicomMaxPerAddress)
            }
            let hl7 =
                hl7Port > 0
                ? HL7Listener.Configuration(
                    host: "", port: hl7Port, allowed: try hl7Allow.map { try HL7AddressRange($0) },
                    idleTimeout: .milliseconds(Int(hl7IdleTimeout * 1000)), maximumConnections: hl7MaxConnections)
                : nil
            let networkFile = try LocalNetwork.networkFile(network, besideTopology: topology)
            guard let anchor = topology ?? networkFile else {
                throw ValidationError("give --topology FILE (pinned keys) or --network FILE (signed membership)")
            }
            // Under signed membership the current version's policy applies unless one is named here.
            let networkPolicy: (policy: NetworkPolicy, path: String?)? =
                networkFile == nil || policy != nil ? try LocalNetwork.policy(policy, besideTopology: anchor) : nil
            let network = try networkFile.map { try LocalNetwork.membershipTopology($0) } ?? LocalNetwork.read(anchor)
            let local: LocalListener
            let tls = tlsCertificate.flatMap { certificate in
                tlsKey.map { LocalListener.TLSFiles(certificate: certificate, key: $0) }
            }
            if let localAddress {
                local = try LocalListener(address: localAddress, publicURL: publicUrl, tls: tls)
            } else {
                guard let me = network.trust(trust) else {
                    throw ModelError.topology("\(trust) is not in this topology")
                }
                let defaults = try LocalListener.default(peerAddress: me.address)
                local = try LocalListener(host: defaults.host, port: defaults.port, publicURL: publicUrl, tls: tls)
            }
            let accessSettings = try access.map(AccessSettings.read)
            let runtime = try NodeRuntime(
                node: node, topology: network,
                settings: GossipSettings(
                    fanout: fanout, batchSize: batchSize, roundInterval: .milliseconds(intervalMs)),
                fetchBatchBytes: fetchBatchKb * 1024, treeHeadInterval: .seconds(treeHeadSeconds), dicom: dicom,
                queryRetrieveAETitles: Set(
                    (queryRetrieveAe ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                        .filter { !$0.isEmpty }),
                local: local, access: accessSettings, policy: networkPolicy?.policy,
                httpLimits: HTTPLimits(
                    headerTimeout: .milliseconds(Int(headerTimeout * 1000)),
                    idleTimeout: .milliseconds(Int(idleTimeout * 1000)),
                    connectionsPerAddress: maxConnectionsPerAddress),
                stowMaximumBytes: stowMaxBytes, refusalAuditWindow: .seconds(refusalAuditWindow),
                auditSyslog: try auditSyslog.map {
                    try AuditSyslogSettings(address: $0, caFile: auditSyslogCa ?? "", backlog: auditSyslogBacklog)
                }, network: networkFile, hl7: hl7, prefetchRules: try prefetchRules.map(Self.readPrefetchRules),
                acceptPushFrom: try pushSettings().accept, pushMail: try pushSettings(trust: trust).mail)
            let host = try runtime.topology.trust(trust)?.hostAndPort().host ?? "127.0.0.1"
            try await runtime.run(
                onListening: { port in
                    FileHandle.standardOutput.write(
                        Data(
                            ("\(trust) peers listening on http://\(host):\(port); network policy "
                                + (networkPolicy.map { $0.path ?? "defaults" } ?? runtime.policySource) + "\n").utf8))
                },
                onLocalListening: { port in
                    FileHandle.standardOutput.write(
                        Data("\(trust) local listener on http://\(local.host):\(port) (\(local.publicURL))\n".utf8))
                },
                onDICOMListening: { port in
                    FileHandle.standardOutput.write(
                        Data("\(trust) DICOM listening on \(local.host):\(port) as \(ae)\n".utf8))
                },
                onHL7Listening: { port in
                    FileHandle.standardOutput.write(
                        Data("\(trust) HL7 v2 (MLLP) listening on \(local.host):\(port)\n".utf8))
                })
        }
    }
}
