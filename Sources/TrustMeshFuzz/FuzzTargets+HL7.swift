import TrustMeshHL7

extension FuzzTargets {
    // MARK: HL7 v2 messages (the feed door)

    /// Reads the bytes as an HL7 v2 message (one MLLP frame's content), maps it as the door does,
    /// and acknowledges it. The acknowledgement must read back strictly, with MSA-1 the code sent
    /// and MSA-2 the message's control ID; every value read must survive escaping and decoding.
    static func hl7(_ bytes: [UInt8]) {
        let message: HL7Message
        do {
            message = try HL7Message(parsing: bytes)
        } catch {
            check(HL7Acknowledgement(code: "AR", to: nil, error: error), code: "AR", controlID: nil)
            return
        }
        let code: String
        let fault: HL7Error?
        do {
            _ = try HL7FeedMapping.map(message, source: "HL7 v2 fuzz from 127.0.0.1")
            code = "AA"
            fault = nil
        } catch {
            code = "AE"
            fault = error
        }
        check(HL7Acknowledgement(code: code, to: message, error: fault), code: code, controlID: message.controlID)
        for segment in message.segments.prefix(16) {
            for field in 1...12 {
                for value in segment.repetitions(field).prefix(4) {
                    for component in 1...4 {
                        guard let text = value.value(component), !text.contains("\r") else { continue }
                        let back = HL7Escape.decode(Substring(HL7Escape.encode(text)), .standard)
                        if back != text { violated("an HL7 value escaped and decoded is not itself") }
                    }
                }
            }
        }
    }

    private static func check(_ ack: HL7Acknowledgement, code: String, controlID: String?) {
        guard let read = try? HL7Message(parsing: ack.text) else {
            // Without a header there is no trigger to echo: MSH-9 is `ACK` alone, which v2.3 allows.
            if controlID == nil { return }
            violated("an HL7 acknowledgement does not read back")
        }
        guard read["MSA"]?.value(1) == code, read["MSA"]?.value(2) == controlID else {
            violated("an HL7 acknowledgement does not carry its code and the message's control ID")
        }
    }

    /// Messages of every type the door maps, and faults it names.
    static func hl7Seeds() throws -> [[UInt8]] {
        let header = #"MSH|^~\&|PAS|RRK|TRUSTMESH|RRK|20261205120000||"#
        let messages = [
            header + "SIU^S12^SIU_S12|M1|P|2.5\rSCH|APT-1^PAS|FIL-1^RIS|||||F^Follow-up||||^^15^20261206090000\r"
                + "PID|1||RRK1^^^RRK^MR~9434765919^^^NHS^NH\rPV1|1|O|||||C1^Smith^John^^^Dr\r"
                + "AIS|1|A|XR^Chest|20261206091500+0000|15|MIN\rAIL|1|A|Fracture clinic\\T\\Plaster\r"
                + "AIP|1|A|C2^Khan^Aisha^^^Dr\r",
            header + "SIU^S15|M2|P|2.5\rSCH||FIL-1^RIS\rPID|1||9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^NH\r",
            header + "ADT^A01|M3|P|2.4\rPID|1||4010232137^^^NHS^NH\r"
                + "PV1|1|I|WARD 7^B2^3^RRK||||C3^Patel^Raj^^^Mr||||||||||||V-5|||||||||||||||||||||||||20260701113000\r",
            header + "ORM^O01|M4|P|2.3\rPID|1||9434765919^^^NHS^NH\rORC|NW|ORD-9^ICE||||||||||C4^Brown^Ann^^^Dr\r"
                + "OBR|1|ORD-9^ICE||CTHEAD^CT head^LOCAL|||||||||||||||||||||||^^^20261207103000\r",
            header
                + "OMI^O23^OMI_O23|M5|P|2.5\rPID|1||9434765919^^^NHS^NH\rORC|NW||FIL-3^RIS\rTQ1|1||||||20261208140000\r"
                + "OBR|1||FIL-3^RIS|MRKNEE^MR knee\rIPC|ACC1|RP1|1.2.3|SPS1|MR\r",
            header + "SIU^S12|M6|P|2.5\rSCH|A\rPID|1||9434765918^^^NHS^NH\rAIS|1|A|X|20261306\r",
            "MSH#*!/$#PAS#RRK#TM#RRK#20261205##ADT*A04#X1#P#2.5\rPID###9434765919*****NHS*NH!1*/F/\rPV1#1\r",
            "PID|1||9434765919^^^NHS^NH\r",
            "MSH|^~\\&|LAB|RRK|TM|RRK|2026||ORU^R01|9|P|2.5\rOBX|1|TX|||a\\.br\\b\\X4869\\\\E\\\r",
        ]
        return messages.map { Array($0.utf8) }
    }
}
