import Foundation
import Testing
import TrustMeshModel
import TrustMeshPolicy

@Suite struct NetworkPolicyTests {
    func parse(_ json: String) throws -> NetworkPolicy {
        try JSONDecoder().decode(NetworkPolicy.self, from: Data(json.utf8))
    }

    /// The coding path and description of a refused file, as `node run` reports them.
    func refusal(_ json: String) -> String {
        do {
            _ = try parse(json)
            return "accepted"
        } catch let DecodingError.dataCorrupted(context) {
            return context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
        } catch {
            return "\(error)"
        }
    }

    @Test func theDefaultsAreTheNetworksCaps() {
        let policy = NetworkPolicy()
        #expect(policy.cap(.referral) == .seconds(365 * 86_400))
        #expect(policy.cap(.outpatient) == .seconds(365 * 86_400))
        #expect(policy.cap(.mdt) == .seconds(365 * 86_400))
        #expect(policy.cap(.admission) == .seconds(90 * 86_400))
        #expect(policy.cap(.emergency) == .seconds(72 * 3600))
        #expect(policy.clockSkew == .seconds(300))
        #expect(policy.maxCareRecordsPerPersonPerDay == 20)
    }

    @Test func anEmptyFileIsTheDefaultsAndTheDefaultsRoundTrip() throws {
        #expect(try parse("{}") == NetworkPolicy())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(NetworkPolicy()), as: UTF8.self)
        #expect(
            text == #"{"careExpiryCaps":{"admission":"90d","emergency":"72h","mdt":"365d","outpatient":"365d","#
                + #""referral":"365d"},"clockSkew":"5m","format":1,"maxCareRecordsPerPersonPerDay":20}"#)
        #expect(try parse(text) == NetworkPolicy())
    }

    @Test func theSampleInTopologyIsTheDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Topology/policy.json"))
        #expect(try JSONDecoder().decode(NetworkPolicy.self, from: data) == NetworkPolicy())
    }

    @Test func durationsAreTextWithAUnitOrSecondsAndAMissingKindKeepsItsDefault() throws {
        let policy = try parse(
            #"{"careExpiryCaps": {"emergency": "24h", "admission": 604800, "mdt": "30d"}, "clockSkew": "90s", "#
                + #""maxCareRecordsPerPersonPerDay": 5}"#)
        #expect(policy.cap(.emergency) == .seconds(86_400))
        #expect(policy.cap(.admission) == .seconds(7 * 86_400))
        #expect(policy.cap(.mdt) == .seconds(30 * 86_400))
        #expect(policy.cap(.referral) == .seconds(365 * 86_400))
        #expect(policy.clockSkew == .seconds(90))
        #expect(policy.maxCareRecordsPerPersonPerDay == 5)
        #expect(NetworkPolicy.text(.seconds(90)) == "90s")
        #expect(NetworkPolicy.text(.seconds(7200)) == "2h")
    }

    @Test func aMalformedFileIsRefusedNamingTheField() {
        #expect(refusal(#"{"careExpiryCap": {}}"#).hasPrefix("careExpiryCap: unknown key"))
        #expect(refusal(#"{"careExpiryCaps": {"emergancy": "72h"}}"#).hasPrefix("careExpiryCaps.emergancy: not a care"))
        #expect(
            refusal(#"{"careExpiryCaps": {"emergency": "3 days"}}"#).hasPrefix(
                "careExpiryCaps.emergency: \"3 days\" is not a duration"))
        #expect(
            refusal(#"{"careExpiryCaps": {"emergency": "0h"}}"#)
                == "careExpiryCaps.emergency: a cap must be more than zero")
        #expect(
            refusal(#"{"careExpiryCaps": {"emergency": -5}}"#).hasPrefix(
                "careExpiryCaps.emergency: a duration cannot be negative"))
        #expect(refusal(#"{"clockSkew": "2d"}"#) == "clockSkew: the clock skew must be at most a day")
        #expect(
            refusal(#"{"maxCareRecordsPerPersonPerDay": 0}"#) == "maxCareRecordsPerPersonPerDay: must be at least 1")
        #expect(refusal(#"{"format": 2}"#).hasPrefix("format: format 2 is not 1"))
    }
}
