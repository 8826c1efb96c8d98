import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshPeer

/// Two trusts with fresh keys, pinned in one topology, and a session RRK made with RKB.
struct Pair {
    let rrk = (signing: SigningKey(), agreement: AgreementKey())
    let rkb = (signing: SigningKey(), agreement: AgreementKey())
    var topology: Topology
    /// RKB's door's sessions.
    let sessions = PeerSessionTable()
    /// RRK's end of its session with RKB (made by a handshake in ``init()``).
    var session: PeerSession!

    init() throws {
        topology = Topology(
            name: "test",
            trusts: [
                .init(
                    ods: try TrustID("RRK"), name: "UHB", address: "127.0.0.1:1", signingKey: rrk.signing.verifyingKey,
                    agreementKey: rrk.agreement.publicKey),
                .init(
                    ods: try TrustID("RKB"), name: "UHCW", address: "127.0.0.1:2", signingKey: rkb.signing.verifyingKey,
                    agreementKey: rkb.agreement.publicKey),
            ])
        session = try handshake()
    }

    var rrkID: TrustID { topology.trusts[0].ods }
    var rkbID: TrustID { topology.trusts[1].ods }

    /// RRK handshakes with RKB (in process): RRK's end of the new session.
    func handshake(nonces: NonceCache = NonceCache()) throws -> PeerSession {
        let handshake = PeerEnvelope.handshake(from: rrkID, key: rrk.signing, to: rkbID)
        let answer = try accept(handshake.request, nonces: nonces)
        return try PeerEnvelope.finish(
            handshake, headers: [PeerEnvelope.signatureHeader: answer.signature.base64], body: answer.body,
            from: topology.trusts[1], to: rrkID)
    }

    /// RKB's door accepting a handshake.
    func accept(_ request: PeerEnvelope.Request, nonces: NonceCache = NonceCache()) throws(PeerRefusal) -> (
        session: PeerSession, body: [UInt8], signature: Signature
    ) {
        let head = try PeerEnvelope.checkHead(
            request.headers, as: rkbID, topology: topology, nonces: nonces, sessions: nil)
        return try PeerEnvelope.acceptHandshake(
            head, method: request.method, path: request.path, body: request.body, as: rkbID, key: rkb.signing,
            nonces: nonces, sessions: sessions)
    }

    /// A request from RRK to RKB in the session.
    func request(_ payload: String = "{\"hello\":1}", now: Date = Date()) -> PeerEnvelope.Request {
        PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: Array(payload.utf8), from: rrkID, key: rrk.signing,
            in: session, now: now)
    }

    func open(_ request: PeerEnvelope.Request, nonces: NonceCache = NonceCache(), now: Date = Date())
        throws(PeerRefusal) -> PeerEnvelope.Opened
    {
        try PeerEnvelope.open(request, as: rkbID, topology: topology, nonces: nonces, sessions: sessions, now: now)
    }
}

@Suite struct PeerEnvelopeTests {
    @Test func aRequestOpensOnlyInItsSessionNeverWithAStaticKey() throws {
        let pair = try Pair()
        let request = pair.request("{\"nhs\":\"9434765919\"}")
        #expect(!String(decoding: request.body, as: UTF8.self).contains("9434765919"))
        // Whoever holds either node's static agreement key cannot open it.
        #expect(throws: CryptoError.self) { try pair.rkb.agreement.openSealed(request.body) }
        #expect(throws: CryptoError.self) { try pair.rrk.agreement.openSealed(request.body) }
        let opened = try pair.open(request)
        #expect(opened.from.ods == pair.rrkID)
        #expect(opened.session.id == pair.session.id)
        #expect(String(decoding: opened.payload, as: UTF8.self) == "{\"nhs\":\"9434765919\"}")
        // The answer, in the same session, opens at RRK only with the session's key.
        let answer = PeerEnvelope.answer(Array("{\"ok\":1}".utf8), to: opened, from: pair.rkbID, key: pair.rkb.signing)
        #expect(throws: CryptoError.self) { try pair.rrk.agreement.openSealed(answer.body) }
        let headers = [PeerEnvelope.signatureHeader: answer.signature.base64]
        let nonce = try #require(request.headers[PeerEnvelope.nonceHeader])
        #expect(
            try PeerEnvelope.openResponse(
                status: 200, headers: headers, body: answer.body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: nonce, session: pair.session) == Array("{\"ok\":1}".utf8))
        // Another session's keys (another handshake of the same two nodes) do not open it.
        let other = try pair.handshake()
        #expect(other.id != pair.session.id)
        #expect(throws: PeerRefusal.self) {
            try PeerEnvelope.openResponse(
                status: 200, headers: headers, body: answer.body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: nonce, session: other)
        }
    }

    @Test func aReplayedRequestIsRefused() throws {
        let pair = try Pair()
        let nonces = NonceCache()
        let request = pair.request()
        _ = try pair.open(request, nonces: nonces)
        do {
            _ = try pair.open(request, nonces: nonces)
            Issue.record("a replay was accepted")
        } catch { #expect(error.code == .replayedRequest) }
    }

    @Test func aStaleRequestIsRefused() throws {
        let pair = try Pair()
        let old = pair.request(now: Date().addingTimeInterval(-3600))
        do {
            _ = try pair.open(old)
            Issue.record("a request an hour old was accepted")
        } catch { #expect(error.code == .staleRequest) }
    }

    @Test(arguments: ["path", "body", "from", "signature", "timestamp", "session", "unknown session", "protocol"])
    func anyAlterationIsRefused(_ field: String) throws {
        let pair = try Pair()
        var request = pair.request()
        var expected = PeerRefusal.Code.badSignature
        switch field {
        case "path": request.path = "/peer/v1/fetch"
        case "body": request.body[request.body.count / 2] ^= 1
        case "from":
            // A request claiming to be from the receiver itself is refused as an unknown peer.
            request.headers[PeerEnvelope.fromHeader] = "RKB"
            expected = .unknownPeer
        case "signature":
            request.headers[PeerEnvelope.signatureHeader] = SigningKey().sign(request.body).base64
        case "timestamp":
            request.headers[PeerEnvelope.timestampHeader] = String(Int(Date().timeIntervalSince1970) - 5)
        case "session":
            // Another live session of the same sender: the signature covers the session id.
            request.headers[PeerEnvelope.sessionHeader] = try pair.handshake().id
        case "unknown session":
            request.headers[PeerEnvelope.sessionHeader] = Data(Random.bytes(16)).base64EncodedString()
            expected = .unknownSession
        default:
            request.headers[PeerEnvelope.protocolHeader] = "3"
            expected = .unsupportedProtocol
        }
        do {
            _ = try pair.open(request)
            Issue.record("an altered \(field) was accepted")
        } catch { #expect(error.code == expected, "\(error)") }
    }

    @Test func aRequestSignedBeforeTheNodeStartedIsRefused() throws {
        let pair = try Pair()
        let request = pair.request(now: Date().addingTimeInterval(-10))
        do {
            _ = try PeerEnvelope.open(
                request, as: pair.rkbID, topology: pair.topology, nonces: NonceCache(), sessions: pair.sessions,
                notBefore: Date())
            Issue.record("a request from before the restart was accepted")
        } catch { #expect(error.code == .staleRequest) }
        // The same request is fine for a node that was already running.
        _ = try PeerEnvelope.open(
            request, as: pair.rkbID, topology: pair.topology, nonces: NonceCache(), sessions: pair.sessions,
            notBefore: Date().addingTimeInterval(-60))
    }

    @Test func anUnpinnedSenderIsRefused() throws {
        let pair = try Pair()
        let stranger = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: try TrustID("RXX"), key: SigningKey(),
            to: pair.topology.trusts[1])
        do {
            _ = try pair.open(stranger)
            Issue.record("an unpinned sender was accepted")
        } catch { #expect(error.code == .unknownPeer) }
        // Nor can a stranger open a session.
        let handshake = PeerEnvelope.handshake(from: try TrustID("RXX"), key: SigningKey(), to: pair.rkbID)
        #expect(throws: PeerRefusal(.unknownPeer, "RXX is not a peer pinned in this node's topology")) {
            try pair.accept(handshake.request)
        }
    }

    @Test func aRequestSignedWithAnotherKeyUnderAPinnedNameIsRefused() throws {
        let pair = try Pair()
        // In RRK's live session, but signed by someone else.
        let impostor = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: SigningKey(),
            in: pair.session)
        do {
            _ = try pair.open(impostor)
            Issue.record("an impostor was accepted")
        } catch { #expect(error.code == .badSignature) }
    }

    @Test func aForgedOrReplayedHandshakeIsRefused() throws {
        let pair = try Pair()
        // Signed by a key that is not RRK's.
        let forged = PeerEnvelope.handshake(from: pair.rrkID, key: SigningKey(), to: pair.rkbID)
        #expect(throws: PeerRefusal.self) { try pair.accept(forged.request) }
        do { _ = try pair.accept(forged.request) } catch { #expect(error.code == .badSignature) }
        // Its ephemeral key swapped for another (the signature covers it).
        var swapped = PeerEnvelope.handshake(from: pair.rrkID, key: pair.rrk.signing, to: pair.rkbID).request
        swapped.body = KeyExchangeKeyPair().publicKey
        do {
            _ = try pair.accept(swapped)
            Issue.record("a handshake with a swapped key was accepted")
        } catch { #expect(error.code == .badSignature) }
        // A genuine one, sent twice: the second is a replay.
        let nonces = NonceCache()
        let genuine = PeerEnvelope.handshake(from: pair.rrkID, key: pair.rrk.signing, to: pair.rkbID)
        let sessionsBefore = pair.sessions.count
        _ = try pair.accept(genuine.request, nonces: nonces)
        do {
            _ = try pair.accept(genuine.request, nonces: nonces)
            Issue.record("a replayed handshake was accepted")
        } catch { #expect(error.code == .replayedRequest) }
        #expect(pair.sessions.count == sessionsBefore + 1)
    }

    @Test func aHandshakeAnswerIsBelievedOnlyFromThePeerAndForThisHandshake() throws {
        let pair = try Pair()
        let first = PeerEnvelope.handshake(from: pair.rrkID, key: pair.rrk.signing, to: pair.rkbID)
        let second = PeerEnvelope.handshake(from: pair.rrkID, key: pair.rrk.signing, to: pair.rkbID)
        let answer = try pair.accept(first.request)
        let headers = [PeerEnvelope.signatureHeader: answer.signature.base64]
        let rkb = pair.topology.trusts[1]
        // Genuine: the session opens, and both ends hold the same id.
        let session = try PeerEnvelope.finish(first, headers: headers, body: answer.body, from: rkb, to: pair.rrkID)
        #expect(session.id == answer.session.id)
        #expect(session.expires > Date().addingTimeInterval(PeerSessionTable.lifetime - 5))
        // The same answer for another handshake: its transcript differs.
        do {
            _ = try PeerEnvelope.finish(second, headers: headers, body: answer.body, from: rkb, to: pair.rrkID)
            Issue.record("an answer to another handshake was accepted")
        } catch { #expect(error.code == .badSignature) }
        // Signed by a key that is not RKB's.
        let mallory = SigningKey()
        let forgedSignature = mallory.sign(
            PeerEnvelope.handshakeAnswerSigningBytes(
                version: PeerProtocol.version, from: pair.rkbID, to: pair.rrkID,
                transcript: BLAKE2b256.hash(
                    PeerEnvelope.handshakeSigningBytes(
                        version: PeerProtocol.version, method: "POST", path: PeerEnvelope.handshakePath,
                        from: pair.rrkID, to: pair.rkbID,
                        timestamp: first.request.headers[PeerEnvelope.timestampHeader]!, nonce: first.nonce,
                        clientKey: first.request.body)), body: answer.body))
        do {
            _ = try PeerEnvelope.finish(
                first, headers: [PeerEnvelope.signatureHeader: forgedSignature.base64], body: answer.body, from: rkb,
                to: pair.rrkID)
            Issue.record("an answer signed by another key was accepted")
        } catch { #expect(error.code == .badSignature) }
    }

    @Test func sessionsExpireAndAreBoundedPerPeerAndInAll() throws {
        let rrk = try TrustID("RRK")
        let rkb = try TrustID("RKB")
        let now = Date()
        func session(_ peer: TrustID, _ age: TimeInterval = 0) -> PeerSession {
            PeerSession(
                id: Data(Random.bytes(16)).base64EncodedString(), peer: peer, sending: SymmetricKey(),
                receiving: SymmetricKey(), expires: now.addingTimeInterval(PeerSessionTable.lifetime - age))
        }
        let table = PeerSessionTable(maximumPerPeer: 3, maximumTotal: 5)
        let first = session(rrk, 10)
        table.insert(first, now: now)
        #expect(table.session(first.id, of: rrk, now: now)?.id == first.id)
        // Another peer cannot use it, and it is gone at its expiry (10 minutes at most).
        #expect(table.session(first.id, of: rkb, now: now) == nil)
        #expect(PeerSessionTable.lifetime <= 600)
        #expect(table.session(first.id, of: rrk, now: now.addingTimeInterval(PeerSessionTable.lifetime)) == nil)
        #expect(table.count == 0)
        // At most 3 per peer: a fourth pushes out the peer's oldest.
        let rrks = (0..<4).map { session(rrk, TimeInterval(40 - $0)) }
        for item in rrks { table.insert(item, now: now) }
        #expect(table.session(rrks[0].id, of: rrk, now: now) == nil)
        #expect(rrks[1...].allSatisfy { table.session($0.id, of: rrk, now: now) != nil })
        // At most 5 in all: RKB's three push out the oldest of all (RRK's).
        let rkbs = (0..<3).map { _ in session(rkb) }
        for item in rkbs { table.insert(item, now: now) }
        #expect(table.count == 5)
        #expect(table.session(rrks[1].id, of: rrk, now: now) == nil)
        #expect(rkbs.allSatisfy { table.session($0.id, of: rkb, now: now) != nil })
        table.forget(rkb)
        #expect(table.count == 2)
    }

    @Test func anUnknownProtocolVersionIsRefusedFirstNamingBothVersions() throws {
        let pair = try Pair()
        for (value, words) in [
            ("3", "the request is protocol 3; this node speaks protocol 2"),
            (nil, "protocol 1"), ("two", "not a version number"),
        ] {
            var request = pair.request()
            request.headers[PeerEnvelope.protocolHeader] = value
            // Even addressed elsewhere: the version is read before anything it governs.
            request.headers[PeerEnvelope.toHeader] = "RXX"
            do {
                _ = try pair.open(request)
                Issue.record("protocol \(value ?? "none") was accepted")
            } catch {
                #expect(error.code == .unsupportedProtocol)
                #expect(error.status == 400)
                #expect(error.protocolVersion == PeerProtocol.version)
                #expect(error.message.contains(words), "\(error.message)")
            }
        }
        let rrk = pair.rrkID
        #expect(
            PeerProtocol.mismatch(peer: rrk, theirs: 3, mine: 2)
                == "RRK runs a newer TrustMesh: protocol 3, this node speaks 2")
        #expect(
            PeerProtocol.mismatch(peer: rrk, theirs: 1, mine: 2)
                == "RRK runs an older TrustMesh: protocol 1, this node speaks 2")
    }

    @Test func aRequestSignedWithARotatedAwayKeyIsAcceptedOnlyDuringItsOverlap() throws {
        var pair = try Pair()
        let old = pair.rrk.signing
        let new = SigningKey()
        // RRK rotated: its new key is pinned, the old one is still accepted (the overlap).
        pair.topology.trusts[0].signingKey = new.verifyingKey
        pair.topology.trusts[0].previousSigningKeys = [old.verifyingKey]
        let byOld = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: old, in: pair.session)
        let byNew = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [2], from: pair.rrkID, key: new, in: pair.session)
        #expect(try pair.open(byOld).payload == [1])
        #expect(try pair.open(byNew).payload == [2])
        // A refusal signed by RKB's previous key is believed during RKB's overlap, not after it.
        let rkbNew = SigningKey()
        pair.topology.trusts[1].signingKey = rkbNew.verifyingKey
        pair.topology.trusts[1].previousSigningKeys = [pair.rkb.signing.verifyingKey]
        let refusal = PeerRefusal(.notShared, "no care relationship")
        let body = Array(try JSONEncoder().encode(refusal))
        let headers = [
            PeerEnvelope.signatureHeader: pair.rkb.signing.sign(
                PeerEnvelope.responseSigningBytes(
                    status: 403, from: pair.rkbID, to: pair.rrkID, requestNonce: "n1", body: body)
            ).base64
        ]
        func believed() -> PeerRefusal {
            PeerEnvelope.openRefusal(
                status: 403, headers: headers, body: body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: "n1")
        }
        #expect(believed() == refusal)
        // The overlap ends: the old keys are no longer accepted.
        pair.topology.trusts[0].previousSigningKeys = []
        pair.topology.trusts[1].previousSigningKeys = []
        let late = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: old, in: pair.session)
        do {
            _ = try pair.open(late)
            Issue.record("a request signed with a key whose overlap ended was accepted")
        } catch { #expect(error.code == .badSignature) }
        #expect(believed().code == .unavailable)
    }

    @Test func aResponseIsBoundToItsRequest() throws {
        let pair = try Pair()
        let request = pair.request()
        let opened = try pair.open(request)
        let answer = PeerEnvelope.answer(Array("ok".utf8), to: opened, from: pair.rkbID, key: pair.rkb.signing)
        let headers = [PeerEnvelope.signatureHeader: answer.signature.base64]
        let opening = { (nonce: String) throws(PeerRefusal) -> [UInt8] in
            try PeerEnvelope.openResponse(
                status: 200, headers: headers, body: answer.body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: nonce, session: pair.session)
        }
        #expect(try opening(opened.nonce) == Array("ok".utf8))
        #expect(throws: PeerRefusal.self) { try opening(Data(Random.bytes(16)).base64EncodedString()) }
    }

    @Test func aRefusalIsBelievedOnlyWhenSignedAndBoundToItsRequest() throws {
        let pair = try Pair()
        let refusal = PeerRefusal(.notShared, "no care relationship")
        let body = Array(try JSONEncoder().encode(refusal))
        func signed(status: Int, nonce: String, key: SigningKey) -> [String: String] {
            let bytes = PeerEnvelope.responseSigningBytes(
                status: status, from: pair.rkbID, to: pair.rrkID, requestNonce: nonce, body: body)
            return [PeerEnvelope.signatureHeader: key.sign(bytes).base64]
        }
        func open(_ status: Int, _ headers: [String: String], nonce: String = "n1") -> PeerRefusal {
            PeerEnvelope.openRefusal(
                status: status, headers: headers, body: body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: nonce)
        }
        // Genuine: the holder's code and message.
        #expect(open(403, signed(status: 403, nonce: "n1", key: pair.rkb.signing)) == refusal)
        // Unsigned, signed by another key, bound to another request or another status: not believed.
        for forged in [
            open(403, [:]), open(403, signed(status: 403, nonce: "n1", key: SigningKey())),
            open(403, signed(status: 403, nonce: "n1", key: pair.rkb.signing), nonce: "n2"),
            open(404, signed(status: 403, nonce: "n1", key: pair.rkb.signing)),
        ] {
            #expect(forged.code == .unavailable)
            #expect(forged.message.contains("not trusted"))
        }
    }

    @Test func headersAloneRefuseWhatTheyCanBeforeTheBodyIsRead() throws {
        let pair = try Pair()
        let request = pair.request()
        let nonces = NonceCache()
        func head(_ headers: [String: String], nonces: NonceCache = NonceCache()) throws(PeerRefusal)
            -> PeerEnvelope.Head
        {
            try PeerEnvelope.checkHead(
                headers, as: pair.rkbID, topology: pair.topology, nonces: nonces, sessions: pair.sessions)
        }
        // A genuine request's headers pass; the request then opens and consumes its nonce.
        let genuine = try head(request.headers, nonces: nonces)
        #expect(genuine.session?.id == pair.session.id)
        _ = try PeerEnvelope.open(
            genuine, method: request.method, path: request.path, body: request.body, as: pair.rkbID, nonces: nonces)
        // Its replay is refused on the headers, before any body.
        #expect(throws: PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")) {
            try head(request.headers, nonces: nonces)
        }
        var stale = request.headers
        stale[PeerEnvelope.timestampHeader] = "1000"
        #expect(throws: PeerRefusal.self) { try head(stale) }
        var misaddressed = request.headers
        misaddressed[PeerEnvelope.toHeader] = "RRK"
        #expect(throws: PeerRefusal.self) { try head(misaddressed) }
        var unknown = request.headers
        unknown[PeerEnvelope.sessionHeader] = "AAAAAAAAAAAAAAAAAAAAAA=="
        do {
            _ = try head(unknown)
            Issue.record("an unknown session passed")
        } catch { #expect(error.code == .unknownSession) }
        var none = request.headers
        none[PeerEnvelope.sessionHeader] = nil
        do {
            _ = try head(none)
            Issue.record("a request in no session passed")
        } catch { #expect(error.code == .badEnvelope) }
    }
}
