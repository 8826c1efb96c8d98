import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshPeer

/// Two trusts with fresh keys, pinned in one topology.
struct Pair {
    let rrk = (signing: SigningKey(), agreement: AgreementKey())
    let rkb = (signing: SigningKey(), agreement: AgreementKey())
    var topology: Topology

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
    }

    var rrkID: TrustID { topology.trusts[0].ods }
    var rkbID: TrustID { topology.trusts[1].ods }

    /// A request from RRK to RKB.
    func request(_ payload: String = "{\"hello\":1}", now: Date = Date()) throws -> PeerEnvelope.Request {
        try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: Array(payload.utf8), from: rrkID, key: rrk.signing,
            to: topology.trusts[1], now: now)
    }

    func open(_ request: PeerEnvelope.Request, nonces: NonceCache = NonceCache(), now: Date = Date())
        throws(PeerRefusal)
        -> PeerEnvelope.Opened
    {
        try PeerEnvelope.open(request, as: rkbID, key: rkb.agreement, topology: topology, nonces: nonces, now: now)
    }
}

@Suite struct PeerEnvelopeTests {
    @Test func aSealedRequestOpensOnlyAtItsReceiver() throws {
        let pair = try Pair()
        let request = try pair.request("{\"nhs\":\"9434765919\"}")
        #expect(!String(decoding: request.body, as: UTF8.self).contains("9434765919"))
        let opened = try pair.open(request)
        #expect(opened.from.ods == pair.rrkID)
        #expect(String(decoding: opened.payload, as: UTF8.self) == "{\"nhs\":\"9434765919\"}")
    }

    @Test func aReplayedRequestIsRefused() throws {
        let pair = try Pair()
        let nonces = NonceCache()
        let request = try pair.request()
        _ = try pair.open(request, nonces: nonces)
        #expect(throws: PeerRefusal.self) { try pair.open(request, nonces: nonces) }
        do { _ = try pair.open(request, nonces: nonces) } catch { #expect(error.code == .replayedRequest) }
    }

    @Test func aStaleRequestIsRefused() throws {
        let pair = try Pair()
        let old = try pair.request(now: Date().addingTimeInterval(-3600))
        do {
            _ = try pair.open(old)
            Issue.record("a request an hour old was accepted")
        } catch { #expect(error.code == .staleRequest) }
    }

    @Test(arguments: ["path", "body", "from", "signature", "timestamp"])
    func anyAlterationBreaksTheSignature(_ field: String) throws {
        let pair = try Pair()
        var request = try pair.request()
        switch field {
        case "path": request.path = "/peer/v1/fetch"
        case "body": request.body[request.body.count / 2] ^= 1
        case "from": request.headers[PeerEnvelope.fromHeader] = "RKB"
        case "signature":
            request.headers[PeerEnvelope.signatureHeader] = SigningKey().sign(request.body).base64
        default:
            request.headers[PeerEnvelope.timestampHeader] = String(Int(Date().timeIntervalSince1970) - 5)
        }
        do {
            _ = try pair.open(request)
            Issue.record("an altered \(field) was accepted")
        } catch {
            // A request claiming to be from the receiver itself is refused as an unknown peer.
            #expect(error.code == (field == "from" ? .unknownPeer : .badSignature))
        }
    }

    @Test func aRequestSignedBeforeTheNodeStartedIsRefused() throws {
        let pair = try Pair()
        let request = try pair.request(now: Date().addingTimeInterval(-10))
        do {
            _ = try PeerEnvelope.open(
                request, as: pair.rkbID, key: pair.rkb.agreement, topology: pair.topology, nonces: NonceCache(),
                notBefore: Date())
            Issue.record("a request from before the restart was accepted")
        } catch { #expect(error.code == .staleRequest) }
        // The same request is fine for a node that was already running.
        _ = try PeerEnvelope.open(
            request, as: pair.rkbID, key: pair.rkb.agreement, topology: pair.topology, nonces: NonceCache(),
            notBefore: Date().addingTimeInterval(-60))
    }

    @Test func anUnpinnedSenderIsRefused() throws {
        let pair = try Pair()
        let stranger = SigningKey()
        let request = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: try TrustID("RXX"), key: stranger,
            to: pair.topology.trusts[1])
        do {
            _ = try pair.open(request)
            Issue.record("an unpinned sender was accepted")
        } catch { #expect(error.code == .unknownPeer) }
    }

    @Test func aRequestSignedWithAnotherKeyUnderAPinnedNameIsRefused() throws {
        let pair = try Pair()
        let impostor = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: SigningKey(),
            to: pair.topology.trusts[1])
        do {
            _ = try pair.open(impostor)
            Issue.record("an impostor was accepted")
        } catch { #expect(error.code == .badSignature) }
    }

    @Test func aRequestSignedWithARotatedAwayKeyIsAcceptedOnlyDuringItsOverlap() throws {
        var pair = try Pair()
        let old = pair.rrk.signing
        let new = SigningKey()
        // RRK rotated: its new key is pinned, the old one is still accepted (the overlap).
        pair.topology.trusts[0].signingKey = new.verifyingKey
        pair.topology.trusts[0].previousSigningKeys = [old.verifyingKey]
        let byOld = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: old,
            to: pair.topology.trusts[1])
        let byNew = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [2], from: pair.rrkID, key: new,
            to: pair.topology.trusts[1])
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
        let late = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: pair.rrkID, key: old,
            to: pair.topology.trusts[1])
        do {
            _ = try pair.open(late)
            Issue.record("a request signed with a key whose overlap ended was accepted")
        } catch { #expect(error.code == .badSignature) }
        #expect(believed().code == .unavailable)
    }

    @Test func aResponseIsBoundToItsRequest() throws {
        let pair = try Pair()
        let body = pair.rrk.agreement.publicKey.seal(Array("ok".utf8))
        let signature = pair.rkb.signing.sign(
            PeerEnvelope.responseSigningBytes(
                status: 200, from: pair.rkbID, to: pair.rrkID, requestNonce: "n1", body: body))
        let headers = [PeerEnvelope.signatureHeader: signature.base64]
        let opened = try PeerEnvelope.openResponse(
            status: 200, headers: headers, body: body, from: pair.topology.trusts[1], to: pair.rrkID,
            requestNonce: "n1",
            key: pair.rrk.agreement)
        #expect(opened == Array("ok".utf8))
        #expect(throws: PeerRefusal.self) {
            try PeerEnvelope.openResponse(
                status: 200, headers: headers, body: body, from: pair.topology.trusts[1], to: pair.rrkID,
                requestNonce: "n2", key: pair.rrk.agreement)
        }
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
        let request = try pair.request()
        let nonces = NonceCache()
        // A genuine request's headers pass; the request then opens and consumes its nonce.
        let head = try PeerEnvelope.checkHead(request.headers, as: pair.rkbID, topology: pair.topology, nonces: nonces)
        _ = try PeerEnvelope.open(
            head, method: request.method, path: request.path, body: request.body, as: pair.rkbID,
            key: pair.rkb.agreement, nonces: nonces)
        // Its replay is refused on the headers, before any body.
        #expect(throws: PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")) {
            try PeerEnvelope.checkHead(request.headers, as: pair.rkbID, topology: pair.topology, nonces: nonces)
        }
        var stale = request.headers
        stale[PeerEnvelope.timestampHeader] = "1000"
        #expect(throws: PeerRefusal.self) {
            try PeerEnvelope.checkHead(stale, as: pair.rkbID, topology: pair.topology, nonces: NonceCache())
        }
        var misaddressed = request.headers
        misaddressed[PeerEnvelope.toHeader] = "RRK"
        #expect(throws: PeerRefusal.self) {
            try PeerEnvelope.checkHead(misaddressed, as: pair.rkbID, topology: pair.topology, nonces: NonceCache())
        }
    }
}
