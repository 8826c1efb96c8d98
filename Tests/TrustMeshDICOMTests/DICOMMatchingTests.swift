import Testing
import TrustMeshDICOM

/// Attribute matching for queries (PS3.4 §C.2.2.2), shared by QIDO-RS, C-FIND and C-MOVE.
@Suite struct DICOMMatchingTests {
    @Test func wildcardsMatchAnyRunAndAnyOneCharacter() {
        #expect(DICOMMatching.wildcard("*", matches: ""))
        #expect(DICOMMatching.wildcard("CT*", matches: "CT CHEST"))
        #expect(DICOMMatching.wildcard("A*B?D", matches: "AxxBcD"))
        #expect(!DICOMMatching.wildcard("A*B?D", matches: "AxxBD"))
        #expect(DICOMMatching.wildcard("?", matches: "é"))
        #expect(!DICOMMatching.wildcard("ACC1", matches: "ACC12"))
        #expect(DICOMMatching.wildcard("**ACC", matches: "ACC"))
        // Case matters (PS3.4 §C.2.2.2.4: matching is case-sensitive unless the key says otherwise).
        #expect(!DICOMMatching.wildcard("ct*", matches: "CT CHEST"))
    }

    @Test func listsAreSplitTrimmedAndDeduplicatedInOrder() {
        #expect(DICOMMatching.values(" CT\\MR \\\\CT\\ PT") == ["CT", "MR", "PT"])
        #expect(DICOMMatching.values("") == [])
    }

    @Test func aUIDListIsNilWhenUniversalOrWildcardOrEmpty() {
        #expect(DICOMMatching.uidList("1.2.3\\1.2.4") == ["1.2.3", "1.2.4"])
        #expect(DICOMMatching.uidList(nil) == nil)
        #expect(DICOMMatching.uidList("*") == nil)
        #expect(DICOMMatching.uidList("1.2.?") == nil)
        #expect(DICOMMatching.uidList(" \\ ") == nil)
    }

    @Test func datesMatchSingleValuesAndInclusiveRanges() {
        #expect(DICOMMatching.date("20240105", inRange: "20240105"))
        #expect(!DICOMMatching.date("20240105", inRange: "20240106"))
        #expect(DICOMMatching.date("20240105", inRange: "20240101-20240105"))
        #expect(DICOMMatching.date("20240105", inRange: " 20240105 - "))
        #expect(DICOMMatching.date("20240105", inRange: "-20240105"))
        #expect(!DICOMMatching.date("20240106", inRange: "-20240105"))
        #expect(!DICOMMatching.date("20231231", inRange: "20240101-"))
    }
}
