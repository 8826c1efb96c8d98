import Foundation
import Testing
import TrustMeshPolicy

/// A rule as another node reports it crosses the wire as its name, and a name this version does not
/// know is kept, not an error.
@Suite struct ReportedRuleTests {
    @Test func everyKnownRuleTravelsAsItsNameAndComesBackTheSame() throws {
        for rule in PolicyRule.allCases {
            let data = try JSONEncoder().encode(ReportedRule.known(rule))
            #expect(String(decoding: data, as: UTF8.self) == "\"\(rule.rawValue)\"")
            #expect(try JSONDecoder().decode(ReportedRule.self, from: data) == .known(rule))
        }
    }

    @Test func aRuleANewerHolderSendsIsKeptByName() throws {
        struct Refusal: Codable, Equatable {
            var rule: ReportedRule?
        }
        let decoded = try JSONDecoder().decode(Refusal.self, from: Data(#"{"rule":"careNotCountersigned"}"#.utf8))
        #expect(decoded.rule == .unknown("careNotCountersigned"))
        #expect(decoded.rule?.name == "careNotCountersigned")
        #expect(try JSONDecoder().decode(Refusal.self, from: JSONEncoder().encode(decoded)) == decoded)
        #expect(try JSONDecoder().decode(Refusal.self, from: Data("{}".utf8)).rule == nil)
        #expect(ReportedRule("optedOut") == .known(.optedOut))
    }
}
