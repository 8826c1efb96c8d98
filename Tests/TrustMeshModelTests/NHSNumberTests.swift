import Testing
import TrustMeshModel

@Suite struct NHSNumberTests {
    // Valid numbers from the NHS Data Dictionary's worked example and NHS test ranges.
    @Test(arguments: ["9434765919", "943 476 5919", "943-476-5919", "4010232137", "9990000018"])
    func validNumbersAreAcceptedAndNormalised(_ text: String) throws {
        let nhs = try NHSNumber(text)
        #expect(nhs.digits.count == 10)
        #expect(nhs.digits == text.filter(\.isNumber))
    }

    @Test func formattedIsThreeThreeFour() throws {
        #expect(try NHSNumber("9434765919").formatted == "943 476 5919")
    }

    @Test func descriptionMasksAllButTheLastFourDigits() throws {
        let nhs = try NHSNumber("9434765919")
        #expect("\(nhs)" == "*** *** 5919")
        #expect(!"\(nhs)".contains("943476"))
    }

    @Test func wrongCheckDigitIsRefused() {
        #expect(throws: ModelError.nhsNumberCheckDigit) { try NHSNumber("9434765918") }
    }

    @Test func checkDigitOfTenIsInvalid() {
        // 1000000010: weights give sum 10*1 + 2*1 = 12 → 11 - 1 = 10 → no valid check digit exists
        // for the first nine digits 100000001, so every tenth digit is refused.
        for last in 0...9 {
            #expect(throws: ModelError.nhsNumberCheckDigit) { try NHSNumber("100000001\(last)") }
        }
    }

    @Test func remainderZeroGivesCheckDigitZero() throws {
        // 000000000 → sum 0 → 11 - 0 = 11 → check digit 0.
        #expect(try NHSNumber("0000000000").digits == "0000000000")
        // 100000000: sum 10 → 11 - 10 = 1.
        #expect(try NHSNumber("1000000001").digits == "1000000001")
        // 110000000: sum 19 → 19 % 11 = 8 → 3.
        #expect(try NHSNumber("1100000003").digits == "1100000003")
    }

    @Test(arguments: ["943476591", "94347659190", ""])
    func wrongLengthIsRefusedNamingTheCount(_ text: String) {
        #expect(throws: ModelError.nhsNumberLength(text.count)) { try NHSNumber(text) }
    }

    @Test func lettersAreRefused() {
        #expect(throws: ModelError.nhsNumberCharacters) { try NHSNumber("943476591X") }
    }

    @Test func errorMessagesNameTheRule() {
        #expect("\(ModelError.nhsNumberCheckDigit)".contains("check digit"))
        #expect("\(ModelError.nhsNumberLength(9))".contains("this has 9"))
    }

    @Test(arguments: ["NHS", "nhs", " NHS ", "NHS England", "2.16.840.1.113883.2.1.4.1"])
    func nhsIssuersAreRecognised(_ issuer: String) {
        #expect(NHSNumber.isNHSIssuer(issuer))
    }

    @Test(arguments: ["RRK", "HOSPITAL", "PAS", "NHSX1", ""])
    func otherIssuersAreNot(_ issuer: String) {
        #expect(!NHSNumber.isNHSIssuer(issuer))
    }
}

@Suite struct TrustIDTests {
    @Test func odsCodesAreUpperCased() throws {
        #expect(try TrustID("rrk").code == "RRK")
    }

    @Test(arguments: ["R", "RRKRRKR", "R-K", ""])
    func malformedCodesAreRefused(_ text: String) {
        #expect(throws: ModelError.trustID(text)) { try TrustID(text) }
    }
}
