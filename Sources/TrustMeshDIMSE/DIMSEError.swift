/// Why a DICOM association or message was refused or failed.
///
/// Protocol errors carry the A-ABORT reason PS3.8 §9.3.8 defines for them, so that the state
/// machine answers every malformed input with the standard abort; ``description`` names the rule
/// that failed and never holds patient data.
public struct DIMSEError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case protocolViolation(reason: UInt8, String)
        case badCommand(String)
        case badDataSet(String)
        case io(String)
        case peer(String)
    }

    private let code: Code

    /// A PDU that cannot be parsed: its type is unknown (reason 1) or a field is invalid (reason 6).
    package static func malformedPDU(_ message: String, unrecognised: Bool = false) -> DIMSEError {
        DIMSEError(code: .protocolViolation(reason: unrecognised ? 1 : 6, message))
    }
    /// A PDU that arrives in a state that does not expect it (A-ABORT reason 2).
    package static func unexpectedPDU(_ message: String) -> DIMSEError {
        DIMSEError(code: .protocolViolation(reason: 2, message))
    }
    /// A PDU item or sub-item the standard does not define here (A-ABORT reason 4).
    package static func unrecognisedParameter(_ message: String) -> DIMSEError {
        DIMSEError(code: .protocolViolation(reason: 4, message))
    }
    /// A PDU item that is valid but not allowed at this point (A-ABORT reason 5).
    package static func unexpectedParameter(_ message: String) -> DIMSEError {
        DIMSEError(code: .protocolViolation(reason: 5, message))
    }
    /// A DIMSE command set that cannot be read.
    package static func badCommand(_ message: String) -> DIMSEError { DIMSEError(code: .badCommand(message)) }
    /// A data set (C-FIND identifier) that cannot be read.
    package static func badDataSet(_ message: String) -> DIMSEError { DIMSEError(code: .badDataSet(message)) }
    /// A peer this node associated with as requestor (a C-MOVE's destination) could not be reached,
    /// refused, aborted, broke the protocol or did not answer in time.
    package static func peer(_ message: String) -> DIMSEError { DIMSEError(code: .peer(message)) }
    /// The node could not write or read a file.
    package static func io(_ message: String) -> DIMSEError { DIMSEError(code: .io(message)) }

    /// The A-ABORT reason (PS3.8 Table 9-26, source 2) that answers this error.
    package var abortReason: UInt8 {
        switch code {
        case .protocolViolation(let reason, _): reason
        case .badCommand, .badDataSet, .io: 6
        case .peer: 0
        }
    }

    public var description: String {
        switch code {
        case .protocolViolation(_, let message): message
        case .badCommand(let message): "bad DIMSE command: \(message)"
        case .badDataSet(let message): "bad data set: \(message)"
        case .io(let message): message
        case .peer(let message): message
        }
    }
}
