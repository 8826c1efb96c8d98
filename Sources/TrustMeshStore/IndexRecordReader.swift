package import TrustMeshCrypto
package import TrustMeshModel

/// Reads the stored JSON of an index record about twenty times faster than `JSONDecoder`, for the
/// common shape only; anything else is left to `JSONDecoder`.
///
/// A federated query decodes every record the patient has (50 or more for some), and `JSONDecoder`
/// takes about 23 µs a record on this project's reference machine: most of a 50-study query. The
/// records read here are the ones this node stored (``IndexTable``), written by `JSONEncoder`
/// after their signatures were verified, so their shape is known: one flat object of the record's
/// fields, strings with at most two-character escapes (`\/`, `\"`…), whole numbers. ``read(_:)``
/// takes exactly that shape and returns `nil` for anything else (a `\u` escape, a number with a fraction or exponent, a
/// name it does not know or reads twice, a missing field, an opt-out's `statement`, bytes that are
/// not UTF-8), and the caller then decodes with `JSONDecoder`, which gives the same record or the
/// same error it always did. The two readers agreeing is tested on generated and malformed records
/// (`IndexRecordReaderTests`).
package enum IndexRecordReader {
    /// The record, or `nil` if the bytes are not of the common shape (not necessarily invalid).
    package static func read(_ bytes: UnsafeRawBufferPointer) -> IndexRecord? {
        var scanner = Scanner(bytes: bytes)
        return scanner.record()
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        /// Whether every byte is ASCII, so that no string needs checking as UTF-8.
        let ascii: Bool

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            ascii = bytes.allSatisfy { $0 < 0x80 }
        }

        /// The text of `bytes[range]`, or `nil` if it is not UTF-8.
        private func text(_ range: Range<Int>) -> String? {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
            return ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
        }

        /// The fields seen, one bit each, so that a name read twice is refused.
        private enum Field: Int {
            case origin, sequence, kind, nhsNumber, studyUID, studyDate, modalities, bodyParts
            case studyDescription, accessionNumber, seriesCount, instanceCount, sizeBytes, manifestHash
            case issuedAt, signature

            /// Whether the record's property is optional (`null` or absent reads as nil).
            var isOptional: Bool {
                switch self {
                case .studyUID, .studyDate, .studyDescription, .accessionNumber, .manifestHash: true
                default: false
                }
            }
        }

        mutating func record() -> IndexRecord? {
            var seen: UInt32 = 0
            var origin: TrustID?
            var sequence: UInt64?
            var kind: String?
            var nhsNumber: NHSNumber?
            var studyUID: String?
            var studyDate: String?
            var modalities: [String]?
            var bodyParts: [String]?
            var studyDescription: String?
            var accessionNumber: String?
            var seriesCount: Int?
            var instanceCount: Int?
            var sizeBytes: Int?
            var manifestHash: Digest256?
            var issuedAt: String?
            var signature: Signature?

            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            skipSpace()
            if take(UInt8(ascii: "}")) { return nil }
            while true {
                skipSpace()
                guard let name = plainString() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard let field = Self.field(name) else { return nil }
                let bit: UInt32 = 1 << UInt32(field.rawValue)
                guard seen & bit == 0 else { return nil }
                seen |= bit
                // `null` is absent for an optional field (as JSONDecoder reads it), wrong for the rest;
                // a field of the wrong type or form is left nil, and the record is not read here.
                if peekNull() {
                    guard field.isOptional else { return nil }
                } else {
                    let read: Bool
                    switch field {
                    case .origin:
                        origin = plainString().flatMap { try? TrustID($0) }
                        read = origin != nil
                    case .sequence:
                        sequence = unsigned()
                        read = sequence != nil
                    case .kind:
                        kind = plainString()
                        read = kind != nil
                    case .nhsNumber:
                        nhsNumber = plainString().flatMap { try? NHSNumber($0) }
                        read = nhsNumber != nil
                    case .studyUID:
                        studyUID = plainString()
                        read = studyUID != nil
                    case .studyDate:
                        studyDate = plainString()
                        read = studyDate != nil
                    case .modalities:
                        modalities = stringArray()
                        read = modalities != nil
                    case .bodyParts:
                        bodyParts = stringArray()
                        read = bodyParts != nil
                    case .studyDescription:
                        studyDescription = plainString()
                        read = studyDescription != nil
                    case .accessionNumber:
                        accessionNumber = plainString()
                        read = accessionNumber != nil
                    case .seriesCount:
                        seriesCount = signed()
                        read = seriesCount != nil
                    case .instanceCount:
                        instanceCount = signed()
                        read = instanceCount != nil
                    case .sizeBytes:
                        sizeBytes = signed()
                        read = sizeBytes != nil
                    case .manifestHash:
                        manifestHash = plainString().flatMap { try? Digest256(hex: $0) }
                        read = manifestHash != nil
                    case .issuedAt:
                        issuedAt = plainString()
                        read = issuedAt != nil
                    case .signature:
                        signature = plainString().flatMap { try? Signature(base64: $0) }
                        read = signature != nil
                    }
                    guard read else { return nil }
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
            skipSpace()
            guard index == bytes.count, let origin, let sequence, let kind, let nhsNumber, let modalities,
                let bodyParts, let seriesCount, let instanceCount, let sizeBytes, let issuedAt, let signature
            else { return nil }
            let draft = IndexRecord.Draft(
                origin: origin, sequence: sequence, kind: IndexRecord.Kind(rawValue: kind), nhsNumber: nhsNumber,
                studyUID: studyUID, studyDate: studyDate, modalities: modalities, bodyParts: bodyParts,
                studyDescription: studyDescription, accessionNumber: accessionNumber, seriesCount: seriesCount,
                instanceCount: instanceCount, sizeBytes: sizeBytes, manifestHash: manifestHash, issuedAt: issuedAt)
            return IndexRecord(draft: draft, signature: signature)
        }

        private static func field(_ name: String) -> Field? {
            switch name {
            case "origin": .origin
            case "sequence": .sequence
            case "kind": .kind
            case "nhsNumber": .nhsNumber
            case "studyUID": .studyUID
            case "studyDate": .studyDate
            case "modalities": .modalities
            case "bodyParts": .bodyParts
            case "studyDescription": .studyDescription
            case "accessionNumber": .accessionNumber
            case "seriesCount": .seriesCount
            case "instanceCount": .instanceCount
            case "sizeBytes": .sizeBytes
            case "manifestHash": .manifestHash
            case "issuedAt": .issuedAt
            case "signature": .signature
            default: nil  // `statement`, or a name the record does not have: JSONDecoder decides
            }
        }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Consumes `null` if it is next.
        private mutating func peekNull() -> Bool {
            guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
                bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
            else { return false }
            index += 4
            return true
        }

        /// A string without control characters, valid UTF-8, whose escapes (if any) are the
        /// two-character ones (`JSONEncoder` writes `/` as `\/`); a `\u` escape is left to JSONDecoder.
        private mutating func plainString() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = text(start..<index)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
                if byte < 0x20 { return nil }
                index += 1
            }
            return nil
        }

        /// The rest of a string that has an escape, from its first byte at `start`.
        private mutating func escapedString(from start: Int) -> String? {
            var text = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: text, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escaped: UInt8
                    switch bytes[index] {
                    case UInt8(ascii: "\""): escaped = UInt8(ascii: "\"")
                    case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                    case UInt8(ascii: "/"): escaped = UInt8(ascii: "/")
                    case UInt8(ascii: "b"): escaped = 0x08
                    case UInt8(ascii: "f"): escaped = 0x0C
                    case UInt8(ascii: "n"): escaped = 0x0A
                    case UInt8(ascii: "r"): escaped = 0x0D
                    case UInt8(ascii: "t"): escaped = 0x09
                    default: return nil
                    }
                    text.append(escaped)
                    index += 1
                case 0..<0x20:
                    return nil
                default:
                    text.append(byte)
                }
            }
            return nil
        }

        private mutating func stringArray() -> [String]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var values: [String] = []
            skipSpace()
            if take(UInt8(ascii: "]")) { return values }
            while true {
                skipSpace()
                guard let value = plainString() else { return nil }
                values.append(value)
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "]")) ? values : nil
            }
        }

        /// A whole number in RFC 8259's form (no leading zeros), within UInt64.
        private mutating func unsigned() -> UInt64? {
            let start = index
            var value: UInt64 = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(UInt64(bytes[index] - 0x30))
                guard !o1, !o2 else { return nil }
                value = sum
                index += 1
            }
            let digits = index - start
            guard digits > 0, !(digits > 1 && bytes[start] == 0x30) else { return nil }
            // A fraction or an exponent: not the common shape.
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                return nil
            }
            return value
        }

        /// A whole number within Int, perhaps negative.
        private mutating func signed() -> Int? {
            let negative = take(UInt8(ascii: "-"))
            guard let magnitude = unsigned() else { return nil }
            if negative {
                return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
            }
            return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
        }
    }
}
