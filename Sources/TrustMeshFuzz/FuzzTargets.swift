import Foundation
import NIOCore
import NIOEmbedded
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshDICOMweb
import TrustMeshDIMSE
import TrustMeshFetch
import TrustMeshGossip
import TrustMeshModel
import TrustMeshPeer
import TrustMeshStore

/// The decoders that read bytes from outside the node, each as a function of one input that must
/// never trap, whatever the bytes (docs/FUZZING.md).
///
/// Each target also checks a property a correct decoder has (the same result whatever the split of
/// the input, or a decoded value that encodes and decodes to itself) and traps when it fails, so a
/// fuzzer finds wrong answers as well as crashes. `trustmesh-fuzz` runs them under libFuzzer
/// (`Scripts/fuzz`); the unit tests run every target over its seed corpus, the kept crashes and a
/// fixed number of mutations of them.
package enum FuzzTargets {
    /// A target's name (its corpus folder under `Fuzz/corpus/`) and its function.
    package struct Target: Sendable {
        package let name: String
        package let run: @Sendable ([UInt8]) -> Void
        /// Inputs that reach deep into the decoder, written to the seed corpus.
        package let seeds: @Sendable () async throws -> [[UInt8]]
    }

    package static let all: [Target] = [
        Target(name: "dicom", run: dicom, seeds: FuzzSeeds.dicom),
        Target(name: "pdu", run: pdu, seeds: FuzzSeeds.pdu),
        Target(name: "multipart", run: multipart, seeds: FuzzSeeds.multipart),
        Target(name: "envelope", run: envelope, seeds: FuzzSeeds.envelope),
        Target(name: "gossip", run: gossip, seeds: FuzzSeeds.gossip),
        Target(name: "manifest", run: manifest, seeds: FuzzSeeds.manifest),
        Target(name: "frames", run: frames, seeds: FuzzSeeds.frames),
        Target(name: "records", run: records, seeds: FuzzSeeds.records),
        Target(name: "audit", run: audit, seeds: FuzzSeeds.audit),
        Target(name: "hl7", run: hl7, seeds: hl7Seeds),
        Target(name: "fhir", run: fhir, seeds: fhirSeeds),
    ]

    package static func named(_ name: String) -> Target? { all.first { $0.name == name } }

    /// Fails the run: the fuzzer keeps the input that got here.
    static func violated(_ property: String) -> Never {
        fatalError("fuzz property violated: \(property)")
    }

    // MARK: DICOM Part 10 reader

    /// Reads the bytes as a file, whole and then in reads of a few bytes at a time; both must agree.
    static func dicom(_ bytes: [UInt8]) {
        var whole = BytesSource(bytes)
        var dripped = BytesSource(bytes, maximumReadSize: 7)
        let a = try? DICOMReader.read(source: &whole)
        let b = try? DICOMReader.read(source: &dripped)
        switch (a, b) {
        case (let x?, let y?):
            guard x.fileSize == y.fileSize, x.pixelDataOffset == y.pixelDataOffset,
                x.transferSyntax == y.transferSyntax
            else { violated("a file read whole and in small reads gave different results") }
        case (nil, nil):
            break
        default:
            violated("a file read whole and in small reads: one failed, one did not")
        }
    }

    // MARK: DIMSE: PDU framing, decoding and the association state machine

    /// Feeds the bytes to the node's PDU decoder as one connection's stream and every decoded PDU to
    /// a fresh association state machine; a decoded PDU must encode to bytes that decode to itself.
    static func pdu(_ bytes: [UInt8]) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUDecoder(maximumDataLength: 64 << 10)))
        defer { _ = try? channel.finish() }
        var machine = AssociationStateMachine(settings: .init(aeTitle: "TRUSTMESH"))
        _ = machine.connected()
        // Split the stream at an input-chosen point: framing must not depend on it.
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        for piece in [bytes[..<split], bytes[split...]] {
            guard (try? channel.writeInbound(ByteBuffer(bytes: piece))) != nil else { return }
            while let event = try? channel.readInbound(as: AssociationEvent.self) {
                guard case .pdu(let pdu) = event else { continue }
                var encoded = ByteBuffer()
                pdu.encode(into: &encoded)
                guard let type = encoded.getInteger(at: 0, as: UInt8.self),
                    let again = try? PDU.decode(
                        type: type, body: encoded.getSlice(at: 6, length: encoded.readableBytes - 6)!),
                    again == pdu
                else { violated("a decoded PDU does not survive encoding and decoding") }
                _ = machine.received(pdu)
            }
        }
    }

    // MARK: STOW-RS multipart bodies

    /// Parses the bytes (boundary `XYZ`) whole and in pieces of an input-chosen size; the parts
    /// and their contents must be the same.
    static func multipart(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let whole = multipartEvents(body, piece: max(body.count, 1))
        let pieces = multipartEvents(body, piece: Int(first % 13) + 1)
        guard whole == pieces else { violated("a multipart body parsed differently when split") }
    }

    /// The parser's events with consecutive content merged, or nil if it refused the body.
    private static func multipartEvents(_ body: [UInt8], piece: Int) -> [MultipartParser.Event]? {
        var parser = MultipartParser(boundary: "XYZ")
        var events: [MultipartParser.Event] = []
        func add(_ new: [MultipartParser.Event]) {
            for event in new {
                if case .content(let more) = event, case .content(let held)? = events.last {
                    events[events.count - 1] = .content(held + more)
                } else {
                    events.append(event)
                }
            }
        }
        do {
            var start = 0
            while start < body.count {
                add(try parser.feed(body[start..<min(start + piece, body.count)]))
                start += piece
            }
            add(try parser.finish())
        } catch {
            return nil
        }
        return events
    }

    // MARK: The peer envelope

    /// Reads the bytes as a peer request (`Name: value` lines, a blank line, the body) and a peer
    /// response, and opens both as the node would.
    static func envelope(_ bytes: [UInt8]) {
        let (headers, body) = FuzzSeeds.splitHeaders(bytes)
        let keys = FuzzSeeds.keys
        let request = PeerEnvelope.Request(method: "POST", path: "/peer/v1/gossip", headers: headers, body: body)
        let sessions = PeerSessionTable()
        sessions.insert(keys.serverSession, now: FuzzSeeds.now)
        if let opened = try? PeerEnvelope.open(
            request, as: FuzzSeeds.me, topology: keys.topology, nonces: NonceCache(), sessions: sessions,
            now: FuzzSeeds.now)
        {
            guard opened.from.ods == FuzzSeeds.peer else { violated("a request opened as from an unpinned trust") }
        }
        _ = try? PeerEnvelope.openResponse(
            status: 200, headers: headers, body: body, from: keys.topology.trust(FuzzSeeds.peer)!, to: FuzzSeeds.me,
            requestNonce: "AAAAAAAAAAAAAAAAAAAAAA==", session: keys.clientSession)
    }

    // MARK: Gossip messages

    /// Decodes the bytes as a gossip request and response, verifying each record it carries.
    static func gossip(_ bytes: [UInt8]) {
        let decoder = JSONDecoder()
        var records: [IndexRecord] = []
        let requests = JSONDecoder()
        requests.userInfo[GossipRequest.senderKey] = FuzzSeeds.peer
        if let request = try? requests.decode(GossipRequest.self, from: Data(bytes)) {
            guard request.from == FuzzSeeds.peer else { violated("a gossip request decoded as from another sender") }
            records += request.records
        }
        if let response = try? decoder.decode(GossipResponse.self, from: Data(bytes)) { records += response.records }
        for record in records { checkRecord(record) }
    }

    // MARK: The fetch manifest and chunk batches

    /// Decodes the bytes as a manifest, as the requester does, and checks it as it would.
    static func manifest(_ bytes: [UInt8]) {
        guard let manifest = try? JSONDecoder().decode(TransferManifest.self, from: Data(bytes)) else { return }
        guard let again = try? JSONDecoder().decode(TransferManifest.self, from: JSONEncoder().encode(manifest)),
            again == manifest
        else { violated("a decoded manifest does not survive encoding and decoding") }
    }

    /// Feeds the bytes to a batch receiver expecting the seed corpus's chunks, in two pieces.
    static func frames(_ bytes: [UInt8]) {
        FetchFuzzing.receive(
            bytes, expecting: FuzzSeeds.frameChunks.map(\.chunk), transferID: FuzzSeeds.transferID,
            key: FuzzSeeds.keys.transfer)
    }

    // MARK: Signed records

    /// Decodes the bytes as an index record and as a care relationship; what decodes must verify
    /// only against the right key and encode back to itself.
    static func records(_ bytes: [UInt8]) {
        let decoder = JSONDecoder()
        if let record = try? decoder.decode(IndexRecord.self, from: Data(bytes)) { checkRecord(record) }
        if let care = try? decoder.decode(CareRelationship.self, from: Data(bytes)) {
            _ = try? care.verify(with: FuzzSeeds.keys.peerSigning.verifyingKey)
            guard let again = try? decoder.decode(CareRelationship.self, from: JSONEncoder().encode(care)),
                again == care
            else { violated("a decoded care relationship does not survive encoding and decoding") }
        }
    }

    private static func checkRecord(_ record: IndexRecord) {
        let verifies = (try? record.verify(with: FuzzSeeds.keys.peerSigning.verifyingKey)) != nil
        guard let again = try? JSONDecoder().decode(IndexRecord.self, from: JSONEncoder().encode(record)),
            again == record
        else { violated("a decoded index record does not survive encoding and decoding") }
        let stillVerifies = (try? again.verify(with: FuzzSeeds.keys.peerSigning.verifyingKey)) != nil
        guard verifies == stillVerifies else { violated("re-encoding a record changed whether it verifies") }
    }

    // MARK: Audit logs

    /// Parses the bytes as an audit export and verifies it as an auditor would.
    static func audit(_ bytes: [UInt8]) {
        guard let export = try? AuditExport.parse(bytes) else { return }
        let verification = AuditVerification(
            exports: [export], keys: [FuzzSeeds.peer: FuzzSeeds.keys.peerSigning.verifyingKey])
        _ = verification.files
        if let trust = export.trust {
            _ = AuditChain.check(export.entries, trust: trust, key: FuzzSeeds.keys.peerSigning.verifyingKey)
        }
    }
}
