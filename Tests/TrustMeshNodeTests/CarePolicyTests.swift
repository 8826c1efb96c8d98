import Foundation
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPolicy
import TrustMeshStore
import TrustMeshTesting

/// The holder enforces the network's policy, not the requester's wording: real node processes, a
/// care relationship recorded offline (no verified clinician) refused by name, a far expiry cut to
/// the network policy's cap, an emergency marked in both logs and reviewed; every decision audited
/// at the holder.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CarePolicyTests {
    static let patient = FetchTests.patient

    /// RRK (the holder) and RKB (the requester), with `policy` as the network's policy (written to
    /// `policy.json` beside the topology and named to both nodes with `--policy`, which overrides
    /// the membership's), and a study of the patient at RRK that RKB lists.
    func network(study: String, policy: NetworkPolicy? = nil) async throws -> TestNetwork {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        var arguments: [String] = []
        if let policy {
            let path = LocalNetwork.policyPath(besideTopology: network.topologyPath)
            try LocalNetwork.writePolicy(policy, to: path)
            arguments = ["--policy", path]
        }
        try await network.start("RRK", arguments: arguments)
        try await network.start("RKB", arguments: arguments)
        _ = try await FetchTests().publish(
            network, at: "RRK", requester: "RKB", studyUID: study, instances: 2, size: 64)
        return network
    }

    func run(_ arguments: [String]) async throws -> ProcessResult { try await CommandRunner.trustmesh(arguments) }

    /// A node's audit entries of some kinds, read from its catalogue beside the running node.
    func entries(_ network: TestNetwork, _ code: String, _ kinds: Set<AuditEntry.Kind>) throws -> [AuditEntry] {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(kinds: kinds)
    }

    func care(_ entry: AuditEntry?) throws -> CareRelationship {
        try JSONDecoder().decode(CareRelationship.self, from: Data(try #require(entry?.details).utf8))
    }

    /// Both nodes' exports, replayed: the exit status and the report.
    func replay(_ network: TestNetwork, _ extra: [String] = []) async throws -> (Int32, String) {
        var logs: [String] = []
        for code in ["RRK", "RKB"] {
            let path = network.directory.appending("\(code)-\(UUID().uuidString.prefix(8)).jsonl")
            let export = try await run(["audit", "export", "--data", network.dataDirectory(code), "--out", path])
            #expect(export.status == 0, "\(export.stderr)")
            logs.append(path)
        }
        let result = try await run(["audit", "replay"] + logs + ["--topology", network.topologyPath] + extra)
        return (result.status, result.stdout + result.stderr)
    }

    @Test func aRelationshipRecordedOfflineIsRefusedAtTheHolderAsUnverifiedAndTheRefusalIsAudited() async throws {
        let study = "1.2.826.0.1.3680043.10.13.1"
        let network = try await network(study: study)

        // The local operator records it with --data: no verified clinician.
        let added = try await run([
            "care", "add", "--data", network.dataDirectory("RKB"), "--nhs", Self.patient, "--kind", "referral",
            "--reason", "Referred by the GP",
        ])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("(local operator)") && added.stdout.contains("careClinicianUnverified"))
        let recorded = try #require(try entries(network, "RKB", [.careAdded]).last)
        #expect(recorded[.actorKind] == "system")
        #expect(recorded.actor.hasPrefix("operating-system user ") && recorded.actor.hasSuffix(" (local operator)"))
        let offline = try care(recorded)
        #expect(offline.clinicianIdentity == nil && offline.clinician == recorded.actor)

        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status != 0)
        #expect(fetched.stderr.contains("[rule: careClinicianUnverified]"), "\(fetched.stderr)")
        #expect(fetched.stderr.contains("does not name a clinician of the requesting trust verified by its sign-in"))

        // The holder refused it by name and audited the refusal, with the relationship presented.
        let refused = try #require(try entries(network, "RRK", [.fetchRefused]).last)
        #expect(refused[.rule] == PolicyRule.careClinicianUnverified.rawValue)
        #expect(refused[.peer] == "RKB" && refused[.studyUID] == study)
        #expect(refused[.careID] == offline.id && refused[.careKind] == "referral")
        #expect(refused.actor == "peer RKB" && refused[.actorKind] == "system")
        #expect(try care(refused) == offline)
        #expect(try entries(network, "RRK", [.fetchServed]).isEmpty)
        // The requester's log closes the fetch with the holder's rule.
        let abandoned = try #require(try entries(network, "RKB", [.fetchAbandoned]).last)
        #expect(abandoned[.rule] == PolicyRule.careClinicianUnverified.rawValue)
        // Nothing was shared, so nothing is found; the refusal is in the timeline.
        let (status, report) = try await replay(network, ["--timeline"])
        #expect(status == 0, "\(report)")
        #expect(report.contains("fetchRefused") && report.contains("rule=careClinicianUnverified"), "\(report)")
    }

    @Test func aFarExpiryIsServedCutToTheNetworkPolicysCapAndTheHolderAuditsTheCut() async throws {
        let study = "1.2.826.0.1.3680043.10.13.2"
        // This network caps a referral at 30 days (policy.json beside the topology, named to the nodes).
        var policy = NetworkPolicy()
        policy.setCap(.referral, to: .seconds(30 * 86_400))
        let network = try await network(study: study, policy: policy)
        #expect(
            network.log("RRK").contains(
                "network policy " + LocalNetwork.policyPath(besideTopology: network.topologyPath)))

        let added = try await network.cli(
            "RKB",
            [
                "care", "add", "--node", network.url("RKB"), "--nhs", Self.patient, "--kind", "referral", "--reason",
                "Referred to the cardiology clinic", "--expires", "9999-12-31",
            ])
        #expect(added.status == 0, "\(added.stderr)")
        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status == 0, "\(fetched.stderr)\n\(network.log("RRK"))")

        let relationship = try #require(try await LocalAPIClient.care(node: network.api("RKB")).first)
        #expect(relationship.expiry == "9999-12-31T23:59:59Z")
        let cut = CareTime.format(try #require(relationship.startDate).addingTimeInterval(30 * 86_400))
        let served = try #require(try entries(network, "RRK", [.fetchServed]).last)
        #expect(served[.careID] == relationship.id && served[.careKind] == "referral")
        #expect(served[.expiryStated] == "9999-12-31T23:59:59Z")
        #expect(served[.expiryEffective] == cut)
        #expect(served.actor == "peer RKB")
        #expect(network.log("RRK").contains("9999-12-31T23:59:59Z cut to \(cut)"))

        // The replay, under the same policy file, finds the share allowed and shows the cut.
        let (status, report) = try await replay(network, ["--timeline"])
        #expect(status == 0, "\(report)")
        #expect(report.contains("expiry 9999-12-31T23:59:59Z cut to \(cut)"), "\(report)")
        // The clinician is named on the timeline: the signed-in person, their role code and trust.
        #expect(report.contains("Test user at RKB (S0000:G0000:R8000 at RKB)"), "\(report)")
    }

    @Test func anEmergencyIsMarkedInBothLogsAndAwaitsReviewUntilInformationGovernanceReviewsIt() async throws {
        let study = "1.2.826.0.1.3680043.10.13.3"
        let network = try await network(study: study)
        let unjustified = try await network.cli(
            "RKB",
            [
                "care", "add", "--node", network.url("RKB"), "--nhs", Self.patient, "--kind", "emergency", "--reason",
                "Attended the emergency department",
            ])
        #expect(unjustified.status != 0)
        #expect(unjustified.stderr.contains("justification"), "\(unjustified.stderr)")

        let justification = "Collapsed on arrival; prior imaging needed at once"
        let added = try await network.cli(
            "RKB",
            [
                "care", "add", "--node", network.url("RKB"), "--nhs", Self.patient, "--kind", "emergency", "--reason",
                "Attended the emergency department", "--justification", justification,
                "--expires", "9999-12-31",
            ])
        #expect(added.status == 0, "\(added.stderr)")
        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status == 0, "\(fetched.stderr)")

        // Both trusts' logs say emergency and carry the justification.
        let recorded = try #require(try entries(network, "RKB", [.careAdded]).last)
        let requested = try #require(try entries(network, "RKB", [.fetchRequested]).last)
        let served = try #require(try entries(network, "RRK", [.fetchServed]).last)
        for entry in [recorded, requested, served] {
            #expect(entry[.careKind] == "emergency", "\(entry.kind)")
            #expect(try care(entry).justification == justification, "\(entry.kind)")
        }
        let relationship = try care(recorded)
        #expect(
            served[.expiryEffective]
                == CareTime.format(try #require(relationship.startDate).addingTimeInterval(72 * 3600)))

        // Each node lists it for its information governance review, not yet reviewed.
        let rkb = try LocalNode(directory: network.dataDirectory("RKB"))
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let atRKB = try #require(try rkb.emergencyAccesses().first)
        #expect(atRKB.side == .recordedHere && !atRKB.isReviewed && atRKB.uses.map(\.kind) == [.fetchRequested])
        let atRRK = try #require(try rrk.emergencyAccesses().first)
        #expect(atRRK.side == .servedHere && atRRK.care == relationship && atRRK.uses.map(\.kind) == [.fetchServed])

        var (status, report) = try await replay(network)
        #expect(status == 3)
        #expect(report.contains("emergencyAwaitingReview"), "\(report)")

        // A reviewer of another trust cannot close it; RKB's information governance officer does.
        let outsider = Person(
            issuer: "https://idp.example/oidc", subject: "ig-2", name: "Mr Sam Ide", roleCode: "R8008",
            organisation: try TrustID("RRK"))
        #expect(throws: CareInputError.self) { try rkb.reviewEmergency(careID: relationship.id, by: outsider) }
        let officer = Person(
            issuer: "https://idp.example/oidc", subject: "ig-1", name: "Ms Jo Ng", roleCode: "R8008",
            organisation: try TrustID("RKB"))
        let reviewed = try rkb.reviewEmergency(
            careID: relationship.id, by: officer, session: "s-9a1b", note: "Justified: see the ED notes")
        #expect(reviewed.isReviewed && reviewed.reviews.map(\.reviewer) == ["Ms Jo Ng"])
        let review = try #require(try entries(network, "RKB", [.emergencyReviewed]).last)
        #expect(review[.actorKind] == "person" && review[.actorSubject] == "ig-1" && review[.session] == "s-9a1b")
        #expect(review[.careID] == relationship.id && review.details == "Justified: see the ED notes")

        (status, report) = try await replay(network)
        #expect(status == 0, "\(report)")
        #expect(report.contains("No findings"))
    }

    @Test func addCareChecksItsInputNamingTheFieldAndAuditsWhoRecordedIt() throws {
        let dir = try TemporaryDirectory()
        let node = try LocalNode.create(directory: dir.appending("rkb"), trust: try TrustID("RKB"), name: "UHCW")
        let shah = Person(
            issuer: "https://idp.rkb.example/oidc", subject: "910000000001", name: " Dr Priya Shah ",
            roleCode: "S8000:G8000:R8000", organisation: try TrustID("RKB"), registration: "GMC 7654321")
        func problem(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "accepted"
            } catch let error as CareInputError {
                return error.description
            } catch {
                return "\(error)"
            }
        }
        #expect(
            problem { _ = try node.addCare(nhs: Self.patient, kind: "emergency", reason: "ED", expires: nil, by: shah) }
                .hasPrefix("justification: an emergency care relationship needs a written justification"))
        #expect(
            problem {
                _ = try node.addCare(
                    nhs: Self.patient, kind: "emergency", reason: "ED", justification: "   ", expires: nil, by: shah)
            }.hasPrefix("justification:"))
        #expect(
            problem { _ = try node.addCare(nhs: Self.patient, kind: "referral", reason: " ", expires: nil, by: shah) }
                .hasPrefix("reason:"))
        #expect(
            problem { _ = try node.addCare(nhs: Self.patient, kind: "referral", reason: nil, expires: nil, by: nil) }
                .hasPrefix("reason:"))
        var elsewhere = shah
        elsewhere.organisation = try TrustID("RRK")
        #expect(
            problem {
                _ = try node.addCare(nhs: Self.patient, kind: "referral", reason: "r", expires: nil, by: elsewhere)
            }
            .hasPrefix("clinician: the signed-in role is held at RRK, not at RKB"))
        #expect(try node.careRelationships().isEmpty)

        // A signed-in clinician: the relationship names her (trimmed) and the audit entry her identity.
        let care = try node.addCare(
            nhs: Self.patient, kind: "EMERGENCY", reason: " Attended the ED ", justification: "Collapsed",
            expires: nil, by: shah, session: "s-77")
        #expect(care.clinician == "Dr Priya Shah" && care.clinicianIdentity?.name == "Dr Priya Shah")
        #expect(care.reason == "Attended the ED" && care.justification == "Collapsed" && care.kind == .emergency)
        #expect(SharingPolicy.isVerified(care))
        try care.verify(with: node.configuration.signingPublicKey)
        let entry = try #require(try node.store.audit.entries(kinds: [.careAdded]).last)
        #expect(entry.actor == "Dr Priya Shah")
        #expect(
            entry.subject == [
                .careID: care.id, .nhsNumber: Self.patient, .careKind: "emergency", .actorKind: "person",
                .actorIssuer: "https://idp.rkb.example/oidc", .actorSubject: "910000000001",
                .actorRole: "S8000:G8000:R8000", .actorOrganisation: "RKB", .actorRegistration: "GMC 7654321",
                .session: "s-77",
            ])

        // The local operator: no clinician identity, the operating-system user named.
        let offline = try node.addCare(nhs: Self.patient, kind: "mdt", reason: "MDT list", expires: nil, by: nil)
        #expect(offline.clinicianIdentity == nil && offline.clinician == LocalNode.localOperatorName)
        #expect(!SharingPolicy.isVerified(offline))
        #expect(try node.store.audit.entries(kinds: [.careAdded]).last?.subject[.actorKind] == "system")
        #expect(try node.emergencyAccesses().map(\.care.id) == [care.id])
    }

    @Test func theStoresDefaultCapsAreTheNetworkPolicysDefaults() {
        // The store cannot import the policy; it keeps a copy to choose a current relationship.
        for kind in CareRelationship.Kind.allCases {
            #expect(CareTable.defaultCaps[kind] == Double(NetworkPolicy().cap(kind).components.seconds), "\(kind)")
        }
    }

    @Test func aMalformedNetworkPolicyStopsTheNodeNamingTheField() async throws {
        let network = try TestNetwork(trusts: ["RRK"])
        // A network of pinned keys (no network file): its nodes read policy.json beside the topology.
        try FileManager.default.removeItem(atPath: network.networkDirectory + "/network.json")
        let beside = LocalNetwork.policyPath(besideTopology: network.topologyPath)
        #expect(try LocalNetwork.readPolicy(beside) == NetworkPolicy())  // network create wrote the defaults
        func start(_ extra: [String]) async throws -> ProcessResult {
            // Bounded: a node that wrongly started would otherwise serve until killed.
            try await CommandRunner.run(
                "/usr/bin/timeout",
                [
                    "20", CommandRunner.trustmeshPath, "node", "run", "--data", network.dataDirectory("RRK"),
                    "--topology", network.topologyPath,
                ] + extra)
        }
        let named = network.directory.appending("bad-policy.json")
        try #"{"careExpiryCaps": {"emergancy": "72h"}}"#.write(toFile: named, atomically: true, encoding: .utf8)
        let explicit = try await start(["--policy", named])
        #expect(explicit.status == 1, "\(explicit.stdout)\(explicit.stderr)")
        #expect(explicit.stderr.contains(named + ": not a network policy: \"careExpiryCaps.emergancy\" is malformed"))

        try #"{"clockSkew": "five minutes"}"#.write(toFile: beside, atomically: true, encoding: .utf8)
        let besideRun = try await start([])
        #expect(besideRun.status == 1, "\(besideRun.stdout)\(besideRun.stderr)")
        #expect(besideRun.stderr.contains(beside + ": not a network policy: \"clockSkew\" is malformed"))

        let missing = try await start(["--policy", network.directory.appending("none.json")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read the network policy file"))
    }
}
