import Foundation
import Glibc
import Testing
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// `node run --audit-syslog` against a real rsyslog (Debian's `rsyslog` and `rsyslog-gnutls`)
/// listening for syslog over TLS on loopback with its own certificate.
@Suite(.timeLimit(.minutes(4))) struct AuditSyslogTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A certificate authority and a collector certificate for 127.0.0.1 signed by it, made with
    /// openssl.
    struct Certificates {
        let ca: String
        let certificate: String
        let key: String

        init(in directory: String, name: String) async throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            ca = directory + "/ca.pem"
            certificate = directory + "/collector.pem"
            key = directory + "/collector.key"
            let extensions = directory + "/collector.ext"
            try """
            subjectAltName=IP:127.0.0.1
            basicConstraints=CA:FALSE
            keyUsage=digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth
            """.write(toFile: extensions, atomically: true, encoding: .utf8)
            let steps: [[String]] = [
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/ca.key", "-out", ca,
                    "-days", "2", "-subj", "/CN=\(name)",
                ],
                [
                    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", directory + "/collector.csr",
                    "-subj", "/CN=127.0.0.1",
                ],
                [
                    "x509", "-req", "-in", directory + "/collector.csr", "-CA", ca, "-CAkey", directory + "/ca.key",
                    "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions,
                ],
            ]
            for step in steps {
                let result = try await CommandRunner.run("/usr/bin/openssl", step)
                guard result.status == 0 else {
                    throw CommandRunnerError(message: "openssl \(step[0]) failed: \(result.stderr)")
                }
            }
        }
    }

    /// rsyslog with imtcp on TLS (gtls driver, clients anonymous), writing each message's raw text
    /// as one line of `received.log`.
    final class Collector: @unchecked Sendable {
        let directory: String
        let port: Int
        let received: String
        let configuration: String
        private var process: BackgroundProcess?
        private var runs = 0

        init(directory: String, certificates: Certificates) throws {
            self.directory = directory
            port = try FreePorts.allocate(1)[0]
            received = directory + "/received.log"
            configuration = directory + "/rsyslog.conf"
            try FileManager.default.createDirectory(atPath: directory + "/work", withIntermediateDirectories: true)
            try """
            global(workDirectory="\(directory)/work" maxMessageSize="64k"
                   defaultNetstreamDriver="gtls"
                   defaultNetstreamDriverCAFile="\(certificates.ca)"
                   defaultNetstreamDriverCertFile="\(certificates.certificate)"
                   defaultNetstreamDriverKeyFile="\(certificates.key)")
            module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
            template(name="raw" type="string" string="%rawmsg%\\n")
            ruleset(name="collector") { action(type="omfile" file="\(received)" template="raw") }
            input(type="imtcp" address="127.0.0.1" port="\(port)" ruleset="collector")
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        }

        /// Starts rsyslogd in the foreground and waits until it accepts connections.
        func start() async throws {
            runs += 1
            let process = try BackgroundProcess(
                ["-n", "-f", configuration, "-i", directory + "/rsyslogd.pid"],
                logPath: directory + "/rsyslogd-\(runs).log", executable: "/usr/sbin/rsyslogd", killHard: true)
            self.process = process
            let port = self.port
            try await poll("rsyslogd to listen on \(port)", deadline: .seconds(60)) {
                guard process.isRunning else {
                    throw CommandRunnerError(message: "rsyslogd exited: \(process.log)")
                }
                guard let fd = try? Loopback.connect(port: port) else { return false }
                close(fd)
                return true
            }
        }

        /// Kills rsyslogd (SIGKILL: it inherits the test process's blocked signals, so SIGTERM would
        /// wait for ever; and an abrupt end is the harder case for the forwarder) and waits for it.
        func stop() { process?.stop() }

        /// The messages received, as lines.
        var lines: [String] {
            ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        /// How many times each entry (by `sequenceId`) arrived.
        var arrivals: [UInt64: Int] {
            var counts: [UInt64: Int] = [:]
            for line in lines {
                guard let range = line.range(of: "[meta sequenceId=\""),
                    let end = line[range.upperBound...].firstIndex(of: "\""),
                    let sequence = UInt64(line[range.upperBound..<end])
                else { continue }
                counts[sequence, default: 0] += 1
            }
            return counts
        }

        deinit { process?.stop() }
    }

    /// The node's log head, read from its data folder.
    static func head(_ network: TestNetwork) throws -> UInt64 {
        try LocalNode(directory: network.dataDirectory("RRK")).store.audit.head()?.sequence ?? 0
    }

    /// Writes one entry to the node's log from outside (an audited `audit export`).
    static func addEntry(_ network: TestNetwork) async throws {
        let out = network.directory.appending("export-\(UUID().uuidString.prefix(8)).jsonl")
        let result = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory("RRK"), "--out", out,
        ])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// Waits until every entry of the log has arrived, then checks each arrived once.
    static func expectEveryEntryOnce(_ collector: Collector, _ network: TestNetwork, _ stage: String) async throws {
        var head: UInt64 = 0
        try await poll("\(stage): every entry at the collector", deadline: .seconds(60), every: .milliseconds(100)) {
            head = try Self.head(network)
            let arrivals = collector.arrivals
            return head > 0 && (1...head).allSatisfy { arrivals[$0] != nil }
        }
        let arrivals = collector.arrivals
        #expect(Set(arrivals.keys) == Set(1...head), "\(stage): \(arrivals.keys.sorted())")
        let repeated = arrivals.filter { $0.value != 1 }
        #expect(repeated.isEmpty, "\(stage): arrived more than once: \(repeated)")
    }

    @Test func everyEntryArrivesOnceThroughCollectorOutagesAndNodeRestarts() async throws {
        for tool in ["/usr/sbin/rsyslogd", "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "/usr/bin/openssl"] {
            try #require(
                FileManager.default.fileExists(atPath: tool), "\(tool) is missing: Scripts/setup installs it")
        }
        let network = try TestNetwork(trusts: ["RRK"])
        let certificates = try await Certificates(in: network.directory.appending("pki"), name: "Test syslog CA")
        let collector = try Collector(directory: network.directory.appending("rsyslog"), certificates: certificates)
        try await collector.start()
        let arguments = [
            "--audit-syslog", "127.0.0.1:\(collector.port)", "--audit-syslog-ca", certificates.ca,
        ]
        try await network.start("RRK", arguments: arguments, signIn: false)
        for _ in 0..<3 { try await Self.addEntry(network) }
        try await Self.expectEveryEntryOnce(collector, network, "connected")

        // The collector goes away: entries wait in the log, and arrive when it is back.
        collector.stop()
        let before = try Self.head(network)
        for _ in 0..<3 { try await Self.addEntry(network) }
        let nodeLog = network.directory.appending("RRK.log")
        try await poll("the node to find the collector gone", deadline: .seconds(30)) {
            let log = (try? String(contentsOfFile: nodeLog, encoding: .utf8)) ?? ""
            return log.contains("collector unreachable") && log.contains("next=\(before + 1)")
        }
        #expect(collector.arrivals.keys.allSatisfy { $0 <= before }, "an entry arrived with the collector down")
        try await collector.start()
        try await Self.expectEveryEntryOnce(collector, network, "after the outage")

        // The node restarts (an entry is written while it is down): nothing lost, nothing repeated.
        #expect(network.stop("RRK") == 0)
        try await Self.addEntry(network)
        try await network.start("RRK", arguments: arguments, signIn: false)
        try await Self.addEntry(network)
        try await Self.expectEveryEntryOnce(collector, network, "after the node's restart")
        let state = try String(contentsOfFile: network.dataDirectory("RRK") + "/audit-syslog.json", encoding: .utf8)
        #expect(state.contains("\"collector\":\"127.0.0.1:\(collector.port)\""))

        // Each message is RFC 5424 with IHE's MSGID, carrying a PS3.15 message the schema accepts.
        let lines = collector.lines
        #expect(
            lines.allSatisfy { $0.hasPrefix("<8") && $0.contains(" trustmesh RRK IHE+RFC-3881 [meta sequenceId=\"") })
        let messages = lines.compactMap { line in
            line.range(of: "<AuditMessage>").map { String(line[$0.lowerBound...]) }
        }
        #expect(messages.count == lines.count)
        let file = network.directory.appending("received-messages.xml")
        try Data((messages.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
        let check = try await CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", Self.root + "/Scripts/check-audit-standards.py", "dicom", file,
                Self.root + "/docs/schemas/dicom-audit-message.rnc",
            ])
        #expect(check.status == 0, "\(check.stdout.prefix(3000))\(check.stderr)")
        #expect(check.stdout.contains("\"110100\""))  // nodeStarted, nodeStopped
        #expect(check.stdout.contains("\"110101\""))  // the audited exports
        network.stop("RRK")
    }

    @Test func aCollectorWhoseCertificateTheCADidNotSignGetsNothing() async throws {
        let network = try TestNetwork(trusts: ["RRK"])
        let trusted = try await Certificates(in: network.directory.appending("pki-trusted"), name: "Trusted CA")
        let other = try await Certificates(in: network.directory.appending("pki-other"), name: "Impostor CA")
        let collector = try Collector(directory: network.directory.appending("rsyslog"), certificates: other)
        try await collector.start()
        try await network.start(
            "RRK", arguments: ["--audit-syslog", "127.0.0.1:\(collector.port)", "--audit-syslog-ca", trusted.ca],
            signIn: false)
        let nodeLog = network.directory.appending("RRK.log")
        try await poll("the node to refuse the collector's certificate", deadline: .seconds(30)) {
            let log = (try? String(contentsOfFile: nodeLog, encoding: .utf8)) ?? ""
            return log.contains("collector unreachable") && log.lowercased().contains("certificate")
        }
        #expect(collector.lines.isEmpty)
        network.stop("RRK")
        #expect(!FileManager.default.fileExists(atPath: network.dataDirectory("RRK") + "/audit-syslog.json"))
    }

    @Test func nodeRunRefusesAnIncompleteCollector() async throws {
        let network = try TestNetwork(trusts: ["RRK"])
        let missingCA = try await CommandRunner.trustmesh([
            "node", "run", "--data", network.dataDirectory("RRK"), "--topology", network.topologyPath,
            "--audit-syslog", "127.0.0.1:6514",
        ])
        #expect(missingCA.status != 0)
        #expect(missingCA.stderr.contains("give --audit-syslog and --audit-syslog-ca together"))
        let badAddress = try await CommandRunner.trustmesh([
            "node", "run", "--data", network.dataDirectory("RRK"), "--topology", network.topologyPath,
            "--audit-syslog", "collector", "--audit-syslog-ca", "/dev/null",
        ])
        #expect(badAddress.status != 0)
        #expect(badAddress.stderr.contains("is not HOST:PORT"), "\(badAddress.stderr)")
    }
}
