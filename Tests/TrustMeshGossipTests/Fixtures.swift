import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

/// Fixed keys and records for tests that don't need a whole network.
enum Fixtures {
    static let rrk = try! TrustID("RRK")
    static let rq3 = try! TrustID("RQ3")
    static let rr8 = try! TrustID("RR8")
    static let patient = try! NHSNumber("9434765919")
    static let otherPatient = try! NHSNumber("4010232137")

    /// Deterministic keys: seed bytes all `n`.
    static func key(_ n: UInt8) -> SigningKey {
        try! SigningKey(seed: Array(repeating: n, count: 32))
    }

    static func record(
        origin: TrustID, sequence: UInt64, kind: IndexRecord.Kind = .study, nhs: NHSNumber = patient,
        studyUID: String? = "1.2.3.4", instances: Int = 10, key: SigningKey
    ) -> IndexRecord {
        IndexRecord.Draft(
            origin: origin, sequence: sequence, kind: kind, nhsNumber: nhs,
            studyUID: kind == .optOut ? nil : studyUID, modalities: ["CT"], instanceCount: instances,
            sizeBytes: instances * 524_288, issuedAt: "2026-03-14T09:26:53Z"
        ).signed(by: key)
    }
}

extension GossipSimulation {
    /// Runs `rounds` ticks.
    func tick(_ rounds: Int) async {
        for _ in 0..<rounds {
            await tick()
        }
    }

    /// Every record held by every node, as one list per node.
    func heldRecords() async -> [[IndexRecord]] {
        var result: [[IndexRecord]] = []
        for log in logs {
            result.append(await log.allRecords())
        }
        return result
    }

    /// The sum of every node's rejected records.
    func rejectedRecords() async -> Int {
        var total = 0
        for node in nodes {
            total += await node.rejectedRecords
        }
        return total
    }
}
