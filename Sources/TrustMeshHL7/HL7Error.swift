/// Why an HL7 v2 message was not accepted: where (a segment and field such as `PID-3`) and what,
/// and whether the sender gets an application reject (AR: the message cannot be read at all) or an
/// application error (AE: read, but its content is wrong).
///
/// ``description`` is what the error acknowledgement's text says, and the audit's details: it
/// names the fault so the hospital's interface team can fix it. It may quote a field's value (an
/// NHS number that fails its check digit), so it goes back to the sender and into the audit log,
/// never into the node's operational log (use ``location`` and ``code`` there).
public struct HL7Error: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable {
        case reject
        case error
    }

    private let kind: Kind
    /// The segment and field at fault (`PID-3`, `MSH-9`, `SCH-11/AIS-4`), or a layer (`MLLP`).
    public let location: String
    /// The HL7 table 0357 error code the ERR segment carries (`100` segment sequence error, `101`
    /// required field missing, `102` data type error, `200` unsupported message type, `204` unknown
    /// key identifier, `207` application internal error).
    public let code: String
    /// What is wrong, after the location.
    public let reason: String

    private init(_ kind: Kind, _ location: String, code: String, _ reason: String) {
        self.kind = kind
        self.location = location
        self.code = code
        self.reason = reason
    }

    /// The message cannot be read (no MSH, bad encoding characters, MSH-9 or MSH-10 missing, a
    /// frame too large): acknowledged AR.
    public static func unreadable(_ location: String, code: String = "100", _ reason: String) -> HL7Error {
        HL7Error(.reject, location, code: code, reason)
    }

    /// The message was read but its content is wrong (no NHS number, a bad check digit, a time
    /// that is not one): acknowledged AE.
    public static func invalid(_ location: String, code: String = "102", _ reason: String) -> HL7Error {
        HL7Error(.error, location, code: code, reason)
    }

    /// The node could not act on a message it read (its audit write failed): acknowledged AE, so
    /// the sender sends it again.
    public static func internalFailure(_ reason: String) -> HL7Error {
        HL7Error(.error, "node", code: "207", reason)
    }

    /// The acknowledgement code this error is answered with: `AR` or `AE`.
    public var acknowledgementCode: String { kind == .reject ? "AR" : "AE" }

    /// `LOCATION: reason`, e.g. `PID-3: NHS number 9434765918 fails its check digit`.
    public var description: String { location + ": " + reason }
}
