import Foundation
import NIOCore
import TrustMeshAudit
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshDIMSE
import TrustMeshFetch
import TrustMeshGossip
import TrustMeshModel
import TrustMeshPeer
import TrustMeshStore

/// Well-formed inputs for each target, built by the node's own encoders from fixed keys, so that
/// the seed corpus (`Fuzz/corpus/`, written by `trustmesh-fuzz seeds`) starts the fuzzer past the
/// first checks of every decoder.
package enum FuzzSeeds {
    static let me = try! TrustID("RKB")
    static let peer = try! TrustID("RRK")
    /// The clock the envelope target checks timestamps against (the seeds' signing time).
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let transferID = "0123456789abcdef"

    /// Keys fixed by seed, so that the committed corpus verifies in every run.
    struct Keys: Sendable {
        let peerSigning = try! SigningKey(seed: [UInt8](repeating: 1, count: 32))
        /// This node's agreement key: random per run (no longer used by the envelope; kept in the
        /// topology, as a node's is).
        let agreement = AgreementKey()
        /// The session the envelope seeds are sent in, fixed so that they open: the peer's end.
        let clientSession = PeerSession(
            id: Data(repeating: 5, count: 16).base64EncodedString(), peer: FuzzSeeds.me,
            sending: try! SymmetricKey(bytes: [UInt8](repeating: 3, count: 32)),
            receiving: try! SymmetricKey(bytes: [UInt8](repeating: 4, count: 32)),
            expires: FuzzSeeds.now.addingTimeInterval(PeerSessionTable.lifetime))
        /// The same session at this node's end.
        var serverSession: PeerSession {
            PeerSession(
                id: clientSession.id, peer: FuzzSeeds.peer, sending: clientSession.receiving,
                receiving: clientSession.sending, expires: clientSession.expires)
        }
        let transfer = try! SymmetricKey(bytes: [UInt8](repeating: 2, count: 32))
        var topology: Topology {
            Topology(
                name: "fuzz",
                trusts: [
                    .init(
                        ods: FuzzSeeds.me, name: "Me", address: "127.0.0.1:1",
                        signingKey: SigningKey().verifyingKey, agreementKey: agreement.publicKey),
                    .init(
                        ods: FuzzSeeds.peer, name: "Peer", address: "127.0.0.1:2",
                        signingKey: peerSigning.verifyingKey, agreementKey: AgreementKey().publicKey),
                ])
        }
    }
    static let keys = Keys()

    /// `Name: value` lines, a blank line, then the body.
    static func splitHeaders(_ bytes: [UInt8]) -> ([String: String], [UInt8]) {
        let separator: [UInt8] = [10, 10]
        var end = bytes.count
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == separator[0] && bytes[index + 1] == separator[1] {
                end = index
                break
            }
            index += 1
        }
        var headers: [String: String] = [:]
        for line in bytes[..<end].split(separator: 10) {
            guard let text = String(validating: line, as: UTF8.self), let colon = text.firstIndex(of: ":") else {
                continue
            }
            headers[String(text[..<colon])] = String(text[text.index(after: colon)...]).trimmingCharacters(
                in: .whitespaces)
        }
        return (headers, end + 2 <= bytes.count ? Array(bytes[(end + 2)...]) : [])
    }

    static func joinHeaders(_ headers: [String: String], body: [UInt8]) -> [UInt8] {
        let lines = headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\n" }.joined()
        return Array(lines.utf8) + [10] + body
    }

    static let record = IndexRecord.Draft(
        origin: peer, sequence: 7, kind: .study, nhsNumber: try! NHSNumber("9434765919"),
        studyUID: "1.2.826.0.1.3680043.8.498.1", studyDate: "20260115", modalities: ["CT"], bodyParts: ["CHEST"],
        studyDescription: "CT CHEST", accessionNumber: "ACC-1", seriesCount: 1, instanceCount: 3,
        sizeBytes: 1_572_864, manifestHash: BLAKE2b256.hash([1, 2, 3]), issuedAt: "2026-09-21T09:26:53Z"
    ).signed(by: keys.peerSigning)

    static let care = CareRelationship.Draft(
        id: "6f1c2a57-3a7e-4d4b-9b8e-0c2e3f4a5b6c", trust: peer, nhsNumber: try! NHSNumber("9434765919"),
        clinician: "Dr Priya Shah",
        clinicianIdentity: Person(
            issuer: "http://127.0.0.1:7499", subject: "priya", name: "Priya Shah", roleCode: "R8000",
            organisation: peer, registration: "GMC 7000001"),
        kind: .referral, reason: "Chest pain", start: "2026-09-21T09:00:00Z", expiry: "2027-09-21T09:00:00Z"
    ).signed(by: keys.peerSigning)

    static func json(_ value: some Encodable) throws -> [UInt8] { Array(try JSONEncoder().encode(value)) }

    static func dicom() throws -> [[UInt8]] {
        let dataset = [
            DataElement(.specificCharacterSet, .cs, "ISO_IR 192"),
            DataElement(.studyDate, .da, "20260115"),
            DataElement(.modality, .cs, "CT"),
            DataElement(.patientName, .pn, "Doe^Jane"),
            DataElement(.patientID, .lo, "9434765919"),
            DataElement(.studyInstanceUID, .ui, "1.2.826.0.1.3680043.8.498.1"),
            DataElement(.seriesInstanceUID, .ui, "1.2.826.0.1.3680043.8.498.1.1"),
            DataElement(.rows, .us, .bytes([4, 0])),
            DataElement(.columns, .us, .bytes([4, 0])),
            DataElement(.bitsAllocated, .us, .bytes([16, 0])),
            DataElement(.pixelData, .ow, .bytes([UInt8](repeating: 7, count: 32))),
        ]
        return try [TransferSyntax.explicitVRLittleEndian, .implicitVRLittleEndian, .explicitVRBigEndian].map {
            syntax in
            try DICOMWriter.encode(
                dataset, transferSyntax: syntax, sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
                sopInstanceUID: "1.2.826.0.1.3680043.8.498.1.1.1")
        }
    }

    static func pdu() throws -> [[UInt8]] {
        let request = PDU.associateRequest(
            AssociateRequest(
                calledAETitle: "TRUSTMESH", callingAETitle: "ECHOSCU",
                contexts: [
                    PresentationContextProposal(
                        id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"])
                ],
                user: UserInformation(maximumLength: 16384, implementationClassUID: "1.2.3.4")))
        let data = PDU.data([PDV(contextID: 1, isCommand: true, isLast: true, data: ByteBuffer(bytes: [0, 0, 0, 0]))])
        func bytes(_ pdus: [PDU]) -> [UInt8] {
            var buffer = ByteBuffer()
            for pdu in pdus { pdu.encode(into: &buffer) }
            return Array(buffer.readableBytesView)
        }
        return [
            bytes([request]), bytes([request, data, .releaseRequest]),
            bytes([request, .abort(Abort(source: 0, reason: 0))]),
        ]
    }

    static func multipart() throws -> [[UInt8]] {
        let body =
            "preamble\r\n--XYZ\r\nContent-Type: application/dicom\r\n\r\n"
            + "DICM bytes of one part\r\n--XYZ  \r\nContent-Type: application/dicom\r\nContent-Length: 4\r\n\r\n"
            + "four\r\n--XYZ--\r\nepilogue"
        return [[3] + Array(body.utf8), [1] + Array("--XYZ\r\n\r\n\r\n--XYZ--".utf8)]
    }

    static func envelope() throws -> [[UInt8]] {
        let payload = Array("{\"from\":\"RRK\",\"digest\":{}}".utf8)
        let timestamp = String(Int(now.timeIntervalSince1970))
        let nonce = Data(repeating: 9, count: 16).base64EncodedString()
        let associated = PeerEnvelope.requestAssociatedData(
            version: PeerProtocol.version, method: "POST", path: "/peer/v1/gossip", from: peer, to: me,
            timestamp: timestamp, nonce: nonce, session: keys.clientSession.id)
        let body = XChaCha20Poly1305.seal(payload, key: keys.clientSession.sending, associatedData: associated)
        let signed = PeerEnvelope.requestSigningBytes(
            version: PeerProtocol.version, method: "POST", path: "/peer/v1/gossip", from: peer, to: me,
            timestamp: timestamp, nonce: nonce, session: keys.clientSession.id, body: body)
        let headers = [
            PeerEnvelope.protocolHeader: "\(PeerProtocol.version)",
            PeerEnvelope.fromHeader: peer.code, PeerEnvelope.toHeader: me.code,
            PeerEnvelope.timestampHeader: timestamp, PeerEnvelope.nonceHeader: nonce,
            PeerEnvelope.sessionHeader: keys.clientSession.id,
            PeerEnvelope.signatureHeader: keys.peerSigning.sign(signed).base64,
        ]
        return [joinHeaders(headers, body: body)]
    }

    static func gossip() throws -> [[UInt8]] {
        [
            try json(GossipRequest(from: peer, digest: [peer: 7, me: 3], records: [record])),
            try json(GossipResponse(digest: [peer: 7], records: [record])),
        ]
    }

    static func manifest() async throws -> [[UInt8]] {
        let folder = FileManager.default.temporaryDirectory.path + "/trustmesh-fuzz-seed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let study = SyntheticStudy(
            patientID: "9434765919", instancesPerSeries: 2, studyInstanceUID: "1.2.826.0.1.3680043.8.498.1",
            seriesCount: 2, rows: 64, columns: 64)
        let files = try study.write(to: folder + "/in")
        let store = try StudyStore(directory: folder + "/store", parameters: .small)
        _ = try await store.ingest(paths: files)
        guard let manifest = try store.transferManifest(studyUID: "1.2.826.0.1.3680043.8.498.1") else { return [] }
        return [try json(manifest)]
    }

    static var frameChunks: [(chunk: TransferManifest.Chunk, stored: [UInt8])] {
        (0..<3).map { index in
            let plain = (0..<(400 + index * 90)).map { UInt8(truncatingIfNeeded: $0 / 5 + index) }
            let stored = try! ZstdCompressor().compress(plain)
            return (
                TransferManifest.Chunk(hash: BLAKE2b256.hash(plain), size: plain.count, stored: stored.count), stored
            )
        }
    }

    static func frames() throws -> [[UInt8]] {
        [try FetchFuzzing.frames(frameChunks, transferID: transferID, key: keys.transfer)]
    }

    static func records() throws -> [[UInt8]] { [try json(record), try json(care)] }

    static func audit() throws -> [[UInt8]] {
        var previous: AuditEntry?
        var lines: [UInt8] = []
        for (index, kind) in [AuditEntry.Kind.nodeStarted, .ingest, .nodeStopped].enumerated() {
            let entry = AuditEntry.Draft(
                trust: peer, time: "2026-09-21T09:2\(index):00Z", kind: kind, actor: "RRK",
                subject: [.nhsNumber: "9434765919"], details: index == 1 ? "{\"instances\":3}" : nil
            ).sealed(previous: previous, key: keys.peerSigning)
            lines += try AuditExport.line(entry)
            previous = entry
        }
        return [lines]
    }
}
