import Foundation
import Logging
import Synchronization
import Testing
import TrustMeshHL7
import TrustMeshModel

/// Messages as a PAS or RIS sends them (segments joined by CR).
enum Messages {
    static func join(_ segments: String...) -> String { segments.joined(separator: "\r") + "\r" }

    static let s12 = join(
        #"MSH|^~\&|PAS|RRK|TRUSTMESH|RRK|20261205120000||SIU^S12^SIU_S12|MSG00042|P|2.5"#,
        #"SCH|APT-2041^PAS|FIL-77^RIS|||||FOLLOWUP^Follow-up||||^^15^20261206090000|||||||||||||||BOOKED"#,
        #"PID|1||RRK123456^^^RRK^MR~9434765919^^^NHS^NH||Jones^Mary^^^Mrs||19620314|F"#,
        #"PV1|1|O|||||C123^Smith^John^^^Dr"#,
        #"RGS|1|A"#,
        #"AIS|1|A|XR^Chest X-ray|20261206091500+0000|15|MIN"#,
        #"AIL|1|A|Fracture clinic\T\Plaster room^^^RRK"#,
        #"AIP|1|A|C456^Khan^Aisha^^^Dr|ATTENDING"#)

    static let s15 = join(
        #"MSH|^~\&|PAS|RRK|TRUSTMESH|RRK|20261205120500||SIU^S15|MSG00043|P|2.5"#,
        #"SCH||FIL-77^RIS|||||||||||||||||||||||CANCELLED"#,
        #"PID|1||9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^NH"#)

    static let a01 = join(
        #"MSH|^~\&|PAS|RRK|TRUSTMESH|RRK|20260701120000||ADT^A01|ADM1|P|2.4"#,
        #"EVN|A01|20260701120000"#,
        #"PID|1||4010232137^^^NHS^NH"#,
        #"PV1|1|I|WARD 7^B2^3^RRK||||C789^Patel^Raj^^^Mr||||||||||||V-555|||||||||||||||||||||||||20260701113000"#)

    static let orm = join(
        #"MSH|^~\&|ICE|RRK|TRUSTMESH|RRK|20261205120000||ORM^O01|ORD1|P|2.3"#,
        #"PID|1||9434765919^^^NHS^NH"#,
        #"ORC|NW|ORD-9^ICE||||||||||C111^Brown^Ann^^^Dr"#,
        #"OBR|1|ORD-9^ICE||CTHEAD^CT head^LOCAL|||||||||||||||||||||||^^^20261207103000"#)

    static let omi = join(
        #"MSH|^~\&|RIS|RRK|TRUSTMESH|RRK|20261205120000||OMI^O23^OMI_O23|OMI1|P|2.5"#,
        #"PID|1||9434765919^^^NHS^NH"#,
        #"ORC|NW||FIL-3^RIS"#,
        #"TQ1|1||||||20261208140000"#,
        #"OBR|1||FIL-3^RIS|MRKNEE^MR knee"#,
        #"IPC|ACC1|RP1|1.2.3|SPS1|MR"#)
}

@Suite struct HL7ParserTests {
    @Test func readsFieldsComponentsRepetitionsAndEscapes() throws {
        let message = try HL7Message(parsing: Messages.s12)
        #expect(message.messageType == "SIU")
        #expect(message.triggerEvent == "S12")
        #expect(message.controlID == "MSG00042")
        #expect(message.sender == "PAS^RRK")
        #expect(message.header.value(2) == #"^~\&"#)
        let pid = try #require(message["PID"])
        #expect(pid.repetitions(3).count == 2)
        #expect(pid.repetitions(3)[1][1] == "9434765919")
        #expect(pid.repetitions(3)[1][5] == "NH")
        #expect(pid.value(5, component: 2) == "Mary")
        #expect(
            message["AIL"]?.value(3) == "Fracture clinic&Plaster room", "\\T\\ decodes to the sub-component separator")
        #expect(message.all("AIS").count == 1)
    }

    @Test func everyEscapeSequenceDecodes() {
        let d = HL7Message.Delimiters.standard
        #expect(HL7Escape.decode(#"a\F\b\S\c\T\d\R\e\E\f"#, d) == #"a|b^c&d~e\f"#)
        #expect(HL7Escape.decode(#"line\.br\next \X4869\ \H\bold\N\"#, d) == "line\nnext Hi bold")
        #expect(HL7Escape.decode(#"unterminated \F"#, d) == #"unterminated \F"#)
        #expect(HL7Escape.decode(Substring(HL7Escape.encode(#"x|y^z&w~v\u"#)), d) == #"x|y^z&w~v\u"#)
    }

    @Test func delimitersComeFromTheHeader() throws {
        let message = try HL7Message(
            parsing: "MSH#*!/$#PAS#RRK#TM#RRK#20261205##ADT*A04#X1#P#2.5\rPID###9434765919*****NHS*NH!1*/F/\r")
        #expect(message.messageType == "ADT")
        #expect(message["PID"]?.repetitions(3).count == 2)
        #expect(message["PID"]?.repetitions(3)[1][1] == "1")
        #expect(message["PID"]?.repetitions(3)[1][2] == "#", "/F/ is the field separator, escaped")
    }

    @Test func unreadableMessagesAreRejectedNamingTheFault() {
        func fault(_ text: String) -> String? {
            do {
                _ = try HL7Message(parsing: text)
                return nil
            } catch { return "\(error.acknowledgementCode) \(error)" }
        }
        #expect(fault("PID|1||9434765919^^^NHS^NH\r") == "AR MSH: the message does not start with an MSH segment")
        #expect(fault("MSH|^~|PAS\r")?.hasPrefix("AR MSH-2:") == true)
        #expect(fault("MSH|^^\\&|PAS|RRK\r")?.hasPrefix("AR MSH-2:") == true)
        #expect(fault("MSH|^~\\&|PAS|RRK|TM|RRK|2026||||P|2.5\r") == "AR MSH-9: message type missing")
        #expect(fault("MSH|^~\\&|PAS|RRK|TM|RRK|2026||ADT|1|P|2.5\r") == "AR MSH-9: trigger event missing")
        #expect(fault("MSH|^~\\&|PAS|RRK|TM|RRK|2026||ADT^A01||P|2.5\r") == "AR MSH-10: message control ID missing")
        #expect(fault("MSH|^~\\&|PAS|RRK|TM|RRK|2026||ADT^A01|1|P|2.5\rpid|1\r")?.hasPrefix("AR segment 2:") == true)
    }

    @Test func dateTimesAreReadExactlyInLondonTimeWithoutAnOffset() {
        func iso(_ text: String) -> String? { HL7DateTime.parse(text).map { $0.formatted(.iso8601) } }
        #expect(iso("20261206090000") == "2026-12-06T09:00:00Z", "GMT in December")
        #expect(iso("20260701090000") == "2026-07-01T08:00:00Z", "BST in July")
        #expect(iso("202607010900") == "2026-07-01T08:00:00Z")
        #expect(iso("20260701") == "2026-06-30T23:00:00Z", "a date alone is local midnight")
        #expect(iso("20260701090000+0200") == "2026-07-01T07:00:00Z")
        #expect(iso("20260701090000-0500") == "2026-07-01T14:00:00Z")
        for bad in [
            "2026", "202607", "20260230", "20261301", "20261206250000", "20261206096000", "2026120609000",
            "20261206090000+25", "2026-12-06", "20261206090000+0960", "",
        ] {
            #expect(HL7DateTime.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct HL7MappingTests {
    func map(_ text: String) throws(HL7Error) -> HL7FeedMapping.Outcome {
        let message = try HL7Message(parsing: text)
        return try HL7FeedMapping.map(message, source: HL7FeedMapping.source(of: message, address: "127.0.0.1"))
    }

    func event(_ text: String) throws -> FeedEvent {
        guard case .event(let event) = try map(text) else { throw HL7Error.invalid("test", "no event") }
        return event
    }

    func fault(_ text: String) -> String? {
        do {
            _ = try map(text)
            return nil
        } catch { return "\(error.acknowledgementCode) \(error)" }
    }

    @Test func anAppointmentBooked() throws {
        let event = try event(Messages.s12)
        #expect(event.kind == .appointmentBooked)
        #expect(event.nhsNumber.digits == "9434765919")
        #expect(event.reference == "APT-2041", "SCH-1 before SCH-2")
        #expect(event.at == Date(timeIntervalSince1970: 1_796_548_500), "AIS-4 before SCH-11: 2026-12-06 09:15 UTC")
        #expect(event.place == "Fracture clinic&Plaster room")
        #expect(event.clinician == "Dr Aisha Khan", "AIP-3 before PV1-7")
        #expect(event.source == "HL7 v2 PAS^RRK from 127.0.0.1")
        #expect(event.messageID == "MSG00042")
    }

    @Test func anAppointmentCancelledByFillerIDWithTheNHSOID() throws {
        let event = try event(Messages.s15)
        #expect(event.kind == .appointmentCancelled)
        #expect(event.reference == "FIL-77")
        #expect(event.nhsNumber.digits == "9434765919")
        #expect(event.at == nil)
    }

    @Test func theOtherAppointmentEventsAndSCH11() throws {
        for (trigger, kind) in [("S13", FeedEvent.Kind.appointmentRescheduled), ("S14", .appointmentModified)] {
            let text = Messages.s12.replacingOccurrences(of: "SIU^S12^SIU_S12", with: "SIU^" + trigger)
                .replacingOccurrences(of: "AIS|1|A|XR^Chest X-ray|20261206091500+0000|15|MIN\r", with: "")
                .replacingOccurrences(of: "AIP|1|A|C456^Khan^Aisha^^^Dr|ATTENDING\r", with: "")
            let event = try event(text)
            #expect(event.kind == kind)
            #expect(event.at == Date(timeIntervalSince1970: 1_796_547_600), "SCH-11.4, London time: 09:00 GMT")
            #expect(event.clinician == "Dr John Smith", "PV1-7")
        }
    }

    @Test func anAdmission() throws {
        let event = try event(Messages.a01)
        #expect(event.kind == .admitted)
        #expect(event.nhsNumber.digits == "4010232137")
        #expect(event.reference == "V-555")
        #expect(event.at == HL7DateTime.parse("20260701103000+0000"), "PV1-44 in BST")
        #expect(event.place == "WARD 7")
        #expect(event.clinician == "Mr Raj Patel")
        for (trigger, kind) in [("A04", FeedEvent.Kind.registered), ("A05", .preAdmitted)] {
            #expect(
                try self.event(Messages.a01.replacingOccurrences(of: "ADT^A01", with: "ADT^" + trigger)).kind == kind)
        }
    }

    @Test func imagingOrders() throws {
        let orm = try event(Messages.orm)
        #expect(orm.kind == .imagingOrdered)
        #expect(orm.reference == "ORD-9")
        #expect(orm.procedure == "CTHEAD")
        #expect(orm.clinician == "Dr Ann Brown")
        #expect(orm.at == HL7DateTime.parse("20261207103000"), "OBR-27.4")
        let omi = try event(Messages.omi)
        #expect(omi.kind == .imagingOrdered)
        #expect(omi.reference == "FIL-3", "ORC-3 when ORC-2 is empty")
        #expect(omi.procedure == "MR", "IPC-5")
        #expect(omi.at == HL7DateTime.parse("20261208140000"), "TQ1-7")
    }

    @Test func messagesTheNodeDoesNotUseAreIgnored() throws {
        let a08 = Messages.a01.replacingOccurrences(of: "ADT^A01", with: "ADT^A08")
        #expect(try map(a08) == .ignored("ADT^A08"))
        let oru = "MSH|^~\\&|LAB|RRK|TM|RRK|2026||ORU^R01|9|P|2.5\rPID|1||x\r"
        #expect(try map(oru) == .ignored("ORU^R01"))
    }

    @Test func badPatientIdentifiersAreErrorsNamingThem() {
        let noNHS = Messages.s12.replacingOccurrences(of: "~9434765919^^^NHS^NH", with: "")
        #expect(fault(noNHS) == "AE PID-3: no NHS number (identifier type NH, assigning authority NHS)")
        let wrongAuthority = Messages.s12.replacingOccurrences(of: "^^^NHS^NH", with: "^^^RRK^NH")
        #expect(fault(wrongAuthority) == "AE PID-3: no NHS number (identifier type NH, assigning authority NHS)")
        let wrongType = Messages.s12.replacingOccurrences(of: "^^^NHS^NH", with: "^^^NHS^MR")
        #expect(fault(wrongType) == "AE PID-3: no NHS number (identifier type NH, assigning authority NHS)")
        let check = Messages.s12.replacingOccurrences(of: "9434765919", with: "9434765918")
        #expect(fault(check) == "AE PID-3: NHS number 9434765918 fails its check digit")
        let short = Messages.s12.replacingOccurrences(of: "9434765919", with: "943476591")
        #expect(fault(short) == "AE PID-3: NHS number 943476591 has 9 digits, not 10")
        let noPID = Messages.s15.replacingOccurrences(
            of: "PID|1||9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^NH\r", with: "")
        #expect(fault(noPID) == "AE PID: segment missing")
    }

    @Test func badTimesAreErrorsNamingTheField() {
        let ais = Messages.s12.replacingOccurrences(of: "20261206091500+0000", with: "20261306")
        #expect(fault(ais)?.hasPrefix("AE AIS-4: appointment time 20261306 is not a valid HL7 date/time") == true)
        let sch = Messages.s12.replacingOccurrences(of: "AIS|1|A|XR^Chest X-ray|20261206091500+0000|15|MIN\r", with: "")
            .replacingOccurrences(of: "20261206090000", with: "tomorrow")
        #expect(fault(sch)?.hasPrefix("AE SCH-11: appointment time tomorrow") == true)
        let pv1 = Messages.a01.replacingOccurrences(of: "20260701113000", with: "20260231")
        #expect(fault(pv1)?.hasPrefix("AE PV1-44:") == true)
    }
}

@Suite struct HL7AcknowledgementTests {
    @Test func anAcceptSwapsSenderAndReceiverAndEchoesTheControlID() throws {
        let message = try HL7Message(parsing: Messages.s12)
        let ack = HL7Acknowledgement(code: "AA", to: message, now: Date(timeIntervalSince1970: 0), controlID: "A1")
        let parsed = try HL7Message(parsing: ack.text)
        #expect(parsed.header.value(3) == "TRUSTMESH")
        #expect(parsed.header.value(4) == "RRK")
        #expect(parsed.header.value(5) == "PAS")
        #expect(parsed.header.value(7) == "19700101000000+0000")
        #expect(parsed.messageType == "ACK")
        #expect(parsed.triggerEvent == "S12")
        #expect(parsed.controlID == "A1")
        #expect(parsed["MSA"]?.value(1) == "AA")
        #expect(parsed["MSA"]?.value(2) == "MSG00042")
        #expect(parsed["ERR"] == nil)
        #expect(ack.framed.first == 0x0B && ack.framed.suffix(2) == [0x1C, 0x0D])
    }

    @Test func anErrorNamesTheFaultInMSAAndERR() throws {
        let message = try HL7Message(parsing: Messages.s12)
        let error = HL7Error.invalid("PID-3", "NHS number 9434765918 fails its check digit")
        let parsed = try HL7Message(parsing: HL7Acknowledgement(code: "AE", to: message, error: error).text)
        #expect(parsed["MSA"]?.value(1) == "AE")
        #expect(parsed["MSA"]?.value(3) == "PID-3: NHS number 9434765918 fails its check digit")
        let err = try #require(parsed["ERR"])
        #expect(err.value(2) == "PID" && err.value(2, component: 3) == "3")
        #expect(err.value(3) == "102")
        #expect(err.value(4) == "E")
        #expect(err.value(8) == "PID-3: NHS number 9434765918 fails its check digit")
    }

    @Test func aRejectWithoutAHeaderStillReads() throws {
        let ack = HL7Acknowledgement(code: "AR", to: nil, error: .unreadable("MSH", "no MSH | here"))
        let segments = ack.text.split(separator: "\r")
        #expect(segments.first?.hasPrefix(#"MSH|^~\&|||||"#) == true)
        #expect(segments.dropFirst().first == #"MSA|AR||MSH: no MSH \F\ here"#)
        #expect(segments.last?.hasPrefix("ERR|MSH^1^|MSH^1^|100^Segment sequence error^HL70357|E") == true)
    }
}

/// An auditor that records what it is told, and can be made to fail.
final class RecordingAuditor: HL7FeedAuditor {
    let accepted = Mutex<[FeedEvent]>([])
    let refusals = Mutex<[String]>([])
    let failing = Atomic<Bool>(false)
    struct AuditDown: Error {}

    func accepted(_ event: FeedEvent, address: String, messageType: String) async throws {
        if failing.load(ordering: .relaxed) { throw AuditDown() }
        accepted.withLock { $0.append(event) }
    }
    func refused(_ error: HL7Error, actor: String, address: String, controlID: String?, messageType: String?) async {
        refusals.withLock { $0.append("\(actor): \(error)") }
    }
    func refusedConnection(from address: String, reason: String) async {
        refusals.withLock { $0.append("\(address): \(reason)") }
    }
}

@Suite struct HL7ProcessingTests {
    /// Events delivered to the pre-fetch engine's place.
    final class Delivered: Sendable {
        let events = Mutex<[FeedEvent]>([])
        func withLock<T>(_ body: (inout [FeedEvent]) -> T) -> T { events.withLock { body(&$0) } }
    }

    func listener(_ auditor: RecordingAuditor, delivered: Delivered) -> HL7Listener {
        HL7Listener(
            configuration: .init(host: "127.0.0.1", port: 0, allowed: []), auditor: auditor,
            deliver: { event in delivered.withLock { $0.append(event) } }, logger: Logger(label: "test"))
    }

    @Test func aResendIsAcknowledgedButDeliveredOnce() async throws {
        let auditor = RecordingAuditor()
        let delivered = Delivered()
        let door = listener(auditor, delivered: delivered)
        let bytes = Array(Messages.s12.utf8)
        #expect(await door.process(bytes, from: "127.0.0.1").code == "AA")
        #expect(await door.process(bytes, from: "127.0.0.1").code == "AA")
        #expect(delivered.withLock { $0.count } == 1)
        #expect(auditor.accepted.withLock { $0.count } == 1)
        // Another sender's message with the same control ID is another message.
        let other = Messages.s12.replacingOccurrences(of: "|PAS|RRK|", with: "|PAS2|RRK|")
        #expect(await door.process(Array(other.utf8), from: "127.0.0.1").code == "AA")
        #expect(delivered.withLock { $0.count } == 2)
    }

    @Test func anUnauditedMessageIsAnErrorAndNotDelivered() async throws {
        let auditor = RecordingAuditor()
        auditor.failing.store(true, ordering: .relaxed)
        let delivered = Delivered()
        let door = listener(auditor, delivered: delivered)
        let bytes = Array(Messages.s12.utf8)
        let ack = await door.process(bytes, from: "127.0.0.1")
        #expect(ack.code == "AE")
        #expect(ack.text.contains("audit"))
        #expect(delivered.withLock { $0.isEmpty })
        // Once the audit works, the resend is delivered.
        auditor.failing.store(false, ordering: .relaxed)
        #expect(await door.process(bytes, from: "127.0.0.1").code == "AA")
        #expect(delivered.withLock { $0.count } == 1)
    }

    @Test func refusalsAreAuditedWithTheFeedAsActor() async throws {
        let auditor = RecordingAuditor()
        let delivered = Delivered()
        let door = listener(auditor, delivered: delivered)
        let bad = Messages.s12.replacingOccurrences(of: "9434765919", with: "9434765918")
        #expect(await door.process(Array(bad.utf8), from: "127.0.0.9").code == "AE")
        #expect(await door.process(Array("PID|1\r".utf8), from: "127.0.0.9").code == "AR")
        let ignored = Messages.a01.replacingOccurrences(of: "ADT^A01", with: "ADT^A08")
        #expect(await door.process(Array(ignored.utf8), from: "127.0.0.9").code == "AA")
        #expect(
            auditor.refusals.withLock { $0 } == [
                "HL7 v2 PAS^RRK from 127.0.0.9: PID-3: NHS number 9434765918 fails its check digit",
                "HL7 v2 sender at 127.0.0.9: MSH: the message does not start with an MSH segment",
            ])
        #expect(delivered.withLock { $0.isEmpty })
    }

    @Test func addressRanges() throws {
        #expect(try HL7AddressRange("127.0.0.1").contains("127.0.0.1"))
        #expect(try !HL7AddressRange("127.0.0.1").contains("127.0.0.2"))
        #expect(try HL7AddressRange("10.1.0.0/16").contains("10.1.200.3"))
        #expect(try !HL7AddressRange("10.1.0.0/16").contains("10.2.0.1"))
        #expect(try HL7AddressRange("10.1.2.3").contains("::ffff:10.1.2.3"))
        #expect(try HL7AddressRange("fd00::/8").contains("fd12::1"))
        #expect(try HL7AddressRange("0.0.0.0/0").contains("192.168.1.1"))
        #expect(throws: HL7Error.self) { try HL7AddressRange("10.0.0.0/33") }
        #expect(throws: HL7Error.self) { try HL7AddressRange("pas.example") }
    }
}
