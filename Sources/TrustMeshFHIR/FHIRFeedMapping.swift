package import Foundation
import TrustMeshCrypto
package import TrustMeshModel

/// One thing wrong with what was posted to the FHIR feed door: an OperationOutcome issue.
package struct FHIRIssue: Sendable, Equatable, CustomStringConvertible {
    /// The FHIR issue type (`structure`, `required`, `value`, `invalid`, `business-rule`,
    /// `not-supported`, `forbidden`).
    package var code: String
    /// Where, as a FHIRPath expression: `Appointment.participant[0].actor.identifier.value`.
    package var expression: String
    /// What is wrong, for the sender's integration team.
    package var message: String
    /// Whether the resource could not be read as FHIR at all (HTTP 400), rather than read and found
    /// against this door's rules (HTTP 422).
    package var structural: Bool

    package var description: String { "\(expression): \(message)" }

    /// An issue; `structural`: the resource could not be read as FHIR (HTTP 400), else 422.
    package init(code: String, expression: String, message: String, structural: Bool) {
        self.code = code
        self.expression = expression
        self.message = message
        self.structural = structural
    }
}

/// Every problem found in what was posted (nothing of it is delivered).
package struct FHIRIssues: Error, Sendable, Equatable {
    /// The problems, in the order found.
    package var issues: [FHIRIssue]
}

/// What one Appointment or ServiceRequest the door read says.
package struct FHIRFeedItem: Sendable, Equatable {
    /// `Appointment` or `ServiceRequest`.
    package var resourceType: String
    /// `Appointment/ID` (or the type alone when the resource has no id), for answers and audit.
    package var label: String
    /// Where the resource is, as a FHIRPath expression (`Appointment`, `Bundle.entry[1].resource`).
    package var path: String
    /// The event to deliver, or nil when the resource calls for nothing (``ignored``).
    package var event: FeedEvent?
    /// Why nothing is delivered (an appointment `fulfilled`, an order `completed`), when so.
    package var ignored: String?
}

/// What a Subscription notification said: its status's type and the resources it carried.
package struct FHIRNotification: Sendable, Equatable {
    /// The notification's type (`event-notification`, `handshake`, `heartbeat`, …).
    package var type: String
    /// The Appointment and ServiceRequest entries, in order.
    package var items: [FHIRFeedItem]
}

/// The FHIR R4 feed's mapping, pure: an `Appointment` or `ServiceRequest` (or a Subscription
/// rest-hook notification carrying them) read strictly and turned into ``FeedEvent``s, or every
/// problem found, each naming its element (docs/ARCHITECTURE.md, "FHIR feed").
///
/// The event's ``FeedEvent/source`` is given by the door (the authenticated system), never read
/// from the resource.
package enum FHIRFeedMapping {
    static let nhsSystem = "https://fhir.nhs.uk/Id/nhs-number"

    /// Reads `body` as one resource of type `expected`.
    /// - Returns: the item, or every problem found.
    package static func resource(_ body: [UInt8], expected: String, source: String) -> Result<
        FHIRFeedItem, FHIRIssues
    > {
        let value: FHIRJSON
        do { value = try FHIRJSON.parse(body) } catch {
            return .failure(
                FHIRIssues(issues: [
                    FHIRIssue(code: "structure", expression: expected, message: "\(error)", structural: true)
                ]))
        }
        var reader = Reader()
        let item = reader.resource(value, path: expected, expected: [expected], source: source)
        guard let item, reader.issues.isEmpty else { return .failure(FHIRIssues(issues: reader.issues)) }
        return .success(item)
    }

    /// Reads `body` as a Subscription notification Bundle (R4 backport `history`, or R4B/R5
    /// `subscription-notification`): its first entry the status (`Parameters` or
    /// `SubscriptionStatus`), the others full Appointment or ServiceRequest resources.
    /// - Returns: the notification, or every problem found in any entry (nothing is delivered then).
    package static func notification(_ body: [UInt8], source: String) -> Result<FHIRNotification, FHIRIssues> {
        let value: FHIRJSON
        do { value = try FHIRJSON.parse(body) } catch {
            return .failure(
                FHIRIssues(issues: [
                    FHIRIssue(code: "structure", expression: "Bundle", message: "\(error)", structural: true)
                ]))
        }
        var reader = Reader()
        let notification = reader.notification(value, source: source)
        guard let notification, reader.issues.isEmpty else { return .failure(FHIRIssues(issues: reader.issues)) }
        return .success(notification)
    }

    /// Reads a FHIR `instant` or `dateTime` with a time (`2026-12-06T09:00:00Z`,
    /// `2026-12-06T09:00:00.000+00:00`): the zone is required, every field in range, the day in its
    /// month. A `dateTime` that is a whole day (`2026-12-06`, when `dateOnly` allows it) is that
    /// day's start in Europe/London.
    /// - Returns: the time, or nil for anything else (a year or month alone included).
    package static func time(_ text: String, dateOnly: Bool = false) -> Date? {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var value = 0
            for i in range {
                guard (48...57).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard b.count >= 10, let year = number(0..<4), year >= 1, b[4] == 45, let month = number(5..<7),
            b[7] == 45, let day = number(8..<10), (1...12).contains(month), day >= 1
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        if b.count == 10 {
            guard dateOnly, let london = TimeZone(identifier: "Europe/London") else { return nil }
            calendar.timeZone = london
            return calendar.date(from: DateComponents(year: year, month: month, day: day))
        }
        guard b.count >= 20, b[10] == 84, let hour = number(11..<13), b[13] == 58, let minute = number(14..<16),
            b[16] == 58, let second = number(17..<19), hour < 24, minute < 60, second < 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if b[i] == 46 {
            var scale = 0.1
            i += 1
            let start = i
            while i < b.count, (48...57).contains(b[i]) {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 {
            guard i + 1 == b.count else { return nil }
        } else {
            guard b[i] == 43 || b[i] == 45, i + 6 == b.count, let hours = number(i + 1..<i + 3), b[i + 3] == 58,
                let minutes = number(i + 4..<i + 6), hours < 14 || (hours == 14 && minutes == 0), minutes < 60
            else { return nil }
            offset = (hours * 60 + minutes) * 60 * (b[i] == 45 ? -1 : 1)
        }
        guard let utc = TimeZone(identifier: "UTC") else { return nil }
        calendar.timeZone = utc
        guard
            let base = calendar.date(
                from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
        else { return nil }
        return base.addingTimeInterval(fraction - Double(offset))
    }
}

extension FHIRFeedMapping {
    /// R4's top-level elements of each resource the door reads (any other is refused).
    static let appointmentElements: Set<String> = [
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "identifier", "status", "cancelationReason", "serviceCategory", "serviceType",
        "specialty", "appointmentType", "reasonCode", "reasonReference", "priority", "description",
        "supportingInformation", "start", "end", "minutesDuration", "slot", "created", "comment",
        "patientInstruction", "basedOn", "participant", "requestedPeriod",
    ]
    static let serviceRequestElements: Set<String> = [
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "identifier", "instantiatesCanonical", "instantiatesUri", "basedOn", "replaces",
        "requisition", "status", "intent", "category", "priority", "doNotPerform", "code", "orderDetail",
        "quantityQuantity", "quantityRatio", "quantityRange", "subject", "encounter", "occurrenceDateTime",
        "occurrencePeriod", "occurrenceTiming", "asNeededBoolean", "asNeededCodeableConcept", "authoredOn",
        "requester", "performerType", "performer", "locationCode", "locationReference", "reasonCode",
        "reasonReference", "insurance", "supportingInfo", "specimen", "bodySite", "note", "patientInstruction",
        "relevantHistory",
    ]
    static let bundleElements: Set<String> = [
        "resourceType", "id", "meta", "implicitRules", "language", "identifier", "type", "timestamp", "total",
        "link", "entry", "signature",
    ]
    static let entryElements: Set<String> = [
        "id", "extension", "modifierExtension", "link", "fullUrl", "resource", "search", "request", "response",
    ]
    static let participantElements: Set<String> = [
        "id", "extension", "modifierExtension", "type", "actor", "required", "status", "period",
    ]
    static let referenceElements: Set<String> = ["id", "extension", "reference", "type", "identifier", "display"]
    static let identifierElements: Set<String> = [
        "id", "extension", "use", "type", "system", "value", "period", "assigner",
    ]
    static let codeableConceptElements: Set<String> = ["id", "extension", "coding", "text"]
    static let codingElements: Set<String> = [
        "id", "extension", "system", "version", "code", "display", "userSelected",
    ]
    static let metaElements: Set<String> = [
        "id", "extension", "versionId", "lastUpdated", "source", "profile", "security", "tag",
    ]
    static let periodElements: Set<String> = ["id", "extension", "start", "end"]

    static let appointmentStatuses: Set<String> = [
        "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error",
        "checked-in", "waitlist",
    ]
    static let participantStatuses: Set<String> = ["accepted", "declined", "tentative", "needs-action"]
    static let requestStatuses: Set<String> = [
        "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown",
    ]
    static let requestIntents: Set<String> = [
        "proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order",
        "option",
    ]

    /// Reads resources, collecting every problem with the path it was found at.
    struct Reader {
        var issues: [FHIRIssue] = []

        mutating func fail(_ path: String, _ code: String, _ message: String, structural: Bool = true) {
            issues.append(FHIRIssue(code: code, expression: path, message: message, structural: structural))
        }

        /// FHIR's JSON rules for every element: no null (but inside a primitive's `_name` array),
        /// no empty object, array or string; a resource in `contained` or an entry has a type.
        mutating func general(_ value: FHIRJSON, path: String, inExtensionArray: Bool = false) {
            switch value {
            case .null where !inExtensionArray:
                fail(path, "structure", "null is not allowed in FHIR JSON: leave the element out")
            case .string(let text) where text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty:
                fail(path, "structure", "an empty string is not allowed in FHIR JSON: leave the element out")
            case .array(let items):
                if items.isEmpty { fail(path, "structure", "an empty array is not allowed: leave the element out") }
                for (index, item) in items.enumerated() {
                    general(item, path: "\(path)[\(index)]", inExtensionArray: inExtensionArray)
                }
            case .object(let members):
                if members.isEmpty { fail(path, "structure", "an empty object is not allowed: leave the element out") }
                for key in members.keys.sorted() {
                    general(members[key]!, path: path + "." + key, inExtensionArray: key.hasPrefix("_"))
                }
            default: break
            }
        }

        /// The members of an object, refusing any not in `allowed` (a primitive's `_name`
        /// companion is allowed with its element).
        mutating func object(_ value: FHIRJSON?, path: String, allowed: Set<String>) -> [String: FHIRJSON]? {
            guard let value else { return nil }
            guard case .object(let members) = value else {
                fail(path, "structure", "must be an object, not \(value.typeName)")
                return nil
            }
            for key in members.keys.sorted() {
                let base = key.hasPrefix("_") ? String(key.dropFirst()) : key
                if !allowed.contains(base) {
                    fail(path + "." + key, "structure", "'\(key.prefix(64))' is not an element of \(Self.typeOf(path))")
                }
            }
            return members
        }

        static func typeOf(_ path: String) -> String {
            let last = path.split(separator: ".").last.map(String.init) ?? path
            return last.split(separator: "[").first.map(String.init) ?? last
        }

        /// A string element (FHIR `string`, `code`, `id`, `uri`, `dateTime`…).
        mutating func string(_ members: [String: FHIRJSON], _ key: String, path: String, required: String? = nil)
            -> String?
        {
            guard let value = members[key] else {
                if let required { fail(path + "." + key, "required", required) }
                return nil
            }
            guard case .string(let text) = value else {
                fail(path + "." + key, "structure", "must be a string, not \(value.typeName)")
                return nil
            }
            return text
        }

        /// A repeating element: an array (a single value where an array belongs is refused).
        mutating func array(_ members: [String: FHIRJSON], _ key: String, path: String) -> [FHIRJSON] {
            guard let value = members[key] else { return [] }
            guard case .array(let items) = value else {
                fail(path + "." + key, "structure", "repeats: it must be an array, not \(value.typeName)")
                return []
            }
            return items
        }

        /// A code from a closed set.
        mutating func code(
            _ members: [String: FHIRJSON], _ key: String, path: String, in values: Set<String>, required: Bool
        ) -> String? {
            let text = string(members, key, path: path, required: required ? "\(key) is required" : nil)
            guard let text else { return nil }
            guard values.contains(text) else {
                fail(
                    path + "." + key, "value",
                    "'\(text.prefix(40))' is not a \(Self.typeOf(path)).\(key) code (\(values.sorted().joined(separator: ", ")))"
                )
                return nil
            }
            return text
        }

        /// `id`: FHIR's `[A-Za-z0-9\-\.]{1,64}`.
        mutating func id(_ members: [String: FHIRJSON], path: String) -> String? {
            guard let id = string(members, "id", path: path) else { return nil }
            guard id.count <= 64, id.utf8.allSatisfy({ $0.isFHIRIDCharacter }) else {
                fail(
                    path + ".id", "value",
                    "'\(id.prefix(70))' is not a FHIR id (letters, digits, '-' and '.', at most 64)")
                return nil
            }
            return id
        }

        /// The text a CodeableConcept shows: its text, else its first coding's display, else code.
        mutating func concept(_ value: FHIRJSON, path: String) -> (text: String?, code: String?) {
            guard let members = object(value, path: path, allowed: FHIRFeedMapping.codeableConceptElements) else {
                return (nil, nil)
            }
            var display: String?
            var code: String?
            for (index, coding) in array(members, "coding", path: path).enumerated() {
                let codingPath = "\(path).coding[\(index)]"
                guard let fields = object(coding, path: codingPath, allowed: FHIRFeedMapping.codingElements) else {
                    continue
                }
                display = display ?? string(fields, "display", path: codingPath)
                code = code ?? string(fields, "code", path: codingPath)
            }
            return (string(members, "text", path: path) ?? display ?? code, code)
        }

        /// A Reference's members.
        mutating func reference(_ value: FHIRJSON, path: String) -> Reference? {
            guard let members = object(value, path: path, allowed: FHIRFeedMapping.referenceElements) else {
                return nil
            }
            var reference = Reference(
                reference: string(members, "reference", path: path), type: string(members, "type", path: path),
                display: string(members, "display", path: path))
            if let identifier = members["identifier"] {
                let identifierPath = path + ".identifier"
                if let fields = object(identifier, path: identifierPath, allowed: FHIRFeedMapping.identifierElements) {
                    reference.identifier = (
                        string(fields, "system", path: identifierPath), string(fields, "value", path: identifierPath)
                    )
                }
            }
            return reference
        }

        /// A Reference's parts the door uses.
        struct Reference {
            var reference: String?
            var type: String?
            var display: String?
            var identifier: (system: String?, value: String?)?

            /// The referenced resource's type: `type`, else the relative reference's first part.
            func target(_ contained: [String: [String: FHIRJSON]]) -> String? {
                if let type { return type }
                guard let reference else { return nil }
                if reference.hasPrefix("#") { return contained[String(reference.dropFirst())]?["resourceType"]?.string }
                let parts = reference.split(separator: "/")
                return parts.count >= 2 ? String(parts[parts.count - 2]) : nil
            }
        }

        /// The contained resources by id.
        mutating func contained(_ members: [String: FHIRJSON], path: String) -> [String: [String: FHIRJSON]] {
            var found: [String: [String: FHIRJSON]] = [:]
            for (index, item) in array(members, "contained", path: path).enumerated() {
                let itemPath = "\(path).contained[\(index)]"
                guard case .object(let fields) = item else {
                    fail(itemPath, "structure", "must be a resource (an object)")
                    continue
                }
                guard fields["resourceType"]?.string != nil else {
                    fail(itemPath + ".resourceType", "required", "a contained resource needs its resourceType")
                    continue
                }
                guard let id = fields["id"]?.string else {
                    fail(itemPath + ".id", "required", "a contained resource needs an id to be referenced by")
                    continue
                }
                found[id] = fields
            }
            return found
        }

        /// The patient's NHS number from a Reference (its identifier, or the contained Patient it
        /// points at), checked; nil with an issue otherwise.
        mutating func nhsNumber(
            _ reference: Reference, path: String, contained: [String: [String: FHIRJSON]], containerPath: String
        ) -> NHSNumber? {
            var candidates: [(system: String?, value: String?, path: String)] = []
            if let identifier = reference.identifier {
                candidates.append((identifier.system, identifier.value, path + ".identifier"))
            } else if let local = reference.reference, local.hasPrefix("#"),
                let patient = contained[String(local.dropFirst())], patient["resourceType"]?.string == "Patient"
            {
                for (index, item)
                    in (patient["identifier"].flatMap { value -> [FHIRJSON]? in
                        if case .array(let items) = value { return items }
                        return nil
                    } ?? []).enumerated()
                {
                    candidates.append(
                        (
                            item["system"]?.string, item["value"]?.string,
                            "\(containerPath).contained.where(id='\(local.dropFirst())').identifier[\(index)]"
                        ))
                }
            }
            guard let found = candidates.first(where: { $0.system == FHIRFeedMapping.nhsSystem }) else {
                fail(
                    path, "required",
                    "the patient must be identified by NHS number: an identifier with system "
                        + "\(FHIRFeedMapping.nhsSystem), in the reference or a contained Patient (a reference to "
                        + "a Patient on another server cannot be resolved here)", structural: false)
                return nil
            }
            guard let value = found.value else {
                fail(found.path + ".value", "required", "the NHS number identifier has no value", structural: false)
                return nil
            }
            do { return try NHSNumber(value) } catch {
                let shown = value.prefix(20)
                let why =
                    error == .nhsNumberCheckDigit
                    ? "NHS number \(shown) fails its check digit" : "'\(shown)' is not an NHS number: \(error)"
                fail(found.path + ".value", "value", why, structural: false)
                return nil
            }
        }

        /// The name a Reference gives a person or place: its display, else a contained resource's name.
        func name(_ reference: Reference, contained: [String: [String: FHIRJSON]]) -> String? {
            if let display = reference.display { return display }
            guard let local = reference.reference, local.hasPrefix("#"),
                let resource = contained[String(local.dropFirst())]
            else { return nil }
            if let name = resource["name"]?.string { return name }
            if case .array(let names)? = resource["name"], let first = names.first {
                if let text = first["text"]?.string { return text }
                var parts: [String] = []
                for key in ["prefix", "given"] {
                    if case .array(let items)? = first[key] { parts += items.compactMap(\.string) }
                }
                if let family = first["family"]?.string { parts.append(family) }
                return parts.isEmpty ? nil : parts.joined(separator: " ")
            }
            return nil
        }

        /// What identifies the resource across messages, and this message of it.
        mutating func identity(
            _ members: [String: FHIRJSON], _ value: FHIRJSON, type: String, path: String, what: String
        ) -> (label: String, reference: String?, messageID: String) {
            let id = self.id(members, path: path)
            var version: String?
            if let meta = object(members["meta"], path: path + ".meta", allowed: FHIRFeedMapping.metaElements) {
                version = string(meta, "versionId", path: path + ".meta")
                if let updated = string(meta, "lastUpdated", path: path + ".meta"),
                    FHIRFeedMapping.time(updated) == nil
                {
                    fail(path + ".meta.lastUpdated", "value", "'\(updated.prefix(40))' is not a FHIR instant")
                }
            }
            var business: String?
            for (index, item) in array(members, "identifier", path: path).enumerated() {
                let itemPath = "\(path).identifier[\(index)]"
                guard let fields = object(item, path: itemPath, allowed: FHIRFeedMapping.identifierElements) else {
                    continue
                }
                business = business ?? string(fields, "value", path: itemPath)
            }
            let label = id.map { "\(type)/\($0)" } ?? type
            let reference = business ?? id.map { "\(type)/\($0)" }
            if reference == nil {
                fail(
                    path + ".identifier", "required",
                    "give the \(what)'s identifier (or its id), so that a later change or cancellation can name it")
            }
            let digest = BLAKE2b256.hash(Array(value.canonical.utf8)).hex.prefix(32)
            let messageID = id.flatMap { id in version.map { "\(type)/\(id)/_history/\($0)" } } ?? "\(label)#\(digest)"
            return (label, reference, messageID)
        }

        /// Refuses what FHIR says a receiver that does not understand it must refuse.
        mutating func modifiers(_ members: [String: FHIRJSON], path: String) {
            if members["modifierExtension"] != nil {
                fail(
                    path + ".modifierExtension", "not-supported",
                    "this node understands no modifier extension, and FHIR requires it to refuse the resource then",
                    structural: false)
            }
            if members["implicitRules"] != nil {
                fail(
                    path + ".implicitRules", "not-supported",
                    "this node knows no implicit rules, and FHIR requires it to refuse the resource then",
                    structural: false)
            }
        }

        /// One resource of one of the `expected` types at `path`.
        mutating func resource(_ value: FHIRJSON, path: String, expected: [String], source: String) -> FHIRFeedItem? {
            guard case .object(let members) = value else {
                fail(path, "structure", "must be a FHIR resource (a JSON object), not \(value.typeName)")
                return nil
            }
            guard let type = members["resourceType"]?.string else {
                fail(path + ".resourceType", "required", "resourceType is required")
                return nil
            }
            guard expected.contains(type) else {
                let wanted = expected.joined(separator: " or ")
                fail(
                    path + ".resourceType", "not-supported",
                    "'\(type.prefix(40))': this door takes \(wanted) here")
                return nil
            }
            let before = issues.count
            general(value, path: path)
            guard issues.count == before else { return nil }
            switch type {
            case "Appointment": return appointment(value, path: path, source: source)
            default: return serviceRequest(value, path: path, source: source)
            }
        }

        mutating func appointment(_ value: FHIRJSON, path: String, source: String) -> FHIRFeedItem? {
            guard let members = object(value, path: path, allowed: FHIRFeedMapping.appointmentElements) else {
                return nil
            }
            modifiers(members, path: path)
            let (label, businessReference, messageID) = identity(
                members, value, type: "Appointment", path: path, what: "appointment")
            let status = code(
                members, "status", path: path, in: FHIRFeedMapping.appointmentStatuses, required: true)
            let contained = contained(members, path: path)
            let startText = string(members, "start", path: path)
            let endText = string(members, "end", path: path)
            let start = startText.flatMap { FHIRFeedMapping.time($0) }
            if let startText, start == nil {
                fail(
                    path + ".start", "value",
                    "'\(startText.prefix(40))' is not a FHIR instant (YYYY-MM-DDThh:mm:ss+zz:zz)")
            }
            if let endText {
                if let end = FHIRFeedMapping.time(endText) {
                    if let start, end < start { fail(path + ".end", "value", "the appointment ends before it starts") }
                } else {
                    fail(
                        path + ".end", "value",
                        "'\(endText.prefix(40))' is not a FHIR instant (YYYY-MM-DDThh:mm:ss+zz:zz)")
                }
            }
            if (startText == nil) != (endText == nil) {
                fail(path + ".start", "invariant", "app-2: give both start and end, or neither")
            }
            if let status, startText == nil, !["proposed", "cancelled", "waitlist"].contains(status) {
                fail(
                    path + ".start", "invariant",
                    "app-3: a \(status) appointment needs its start and end (only proposed, cancelled or waitlist "
                        + "appointments may leave them out)")
            }
            var patient: NHSNumber?
            var patients = 0
            var clinician: String?
            var location: String?
            let participants = array(members, "participant", path: path)
            if participants.isEmpty, members["participant"] == nil {
                fail(path + ".participant", "required", "participant is required (the patient at least)")
            }
            for (index, item) in participants.enumerated() {
                let itemPath = "\(path).participant[\(index)]"
                guard let fields = object(item, path: itemPath, allowed: FHIRFeedMapping.participantElements) else {
                    continue
                }
                _ = code(fields, "status", path: itemPath, in: FHIRFeedMapping.participantStatuses, required: true)
                if fields["type"] == nil, fields["actor"] == nil {
                    fail(itemPath, "invariant", "app-1: a participant needs a type or an actor")
                }
                guard let actorValue = fields["actor"], let actor = reference(actorValue, path: itemPath + ".actor")
                else { continue }
                switch actor.target(contained) {
                case "Patient":
                    patients += 1
                    if patients == 1 {
                        patient = nhsNumber(
                            actor, path: itemPath + ".actor", contained: contained, containerPath: path)
                    } else {
                        fail(itemPath + ".actor", "business-rule", "an appointment for two patients", structural: false)
                    }
                case "Practitioner", "PractitionerRole":
                    clinician = clinician ?? name(actor, contained: contained)
                case "Location", "HealthcareService":
                    location = location ?? name(actor, contained: contained)
                default: break
                }
            }
            if patients == 0, !participants.isEmpty {
                fail(
                    path + ".participant", "required",
                    "no participant is the patient (an actor of type Patient, identified by NHS number)",
                    structural: false)
            }
            var service: String?
            for (index, item) in array(members, "serviceType", path: path).enumerated() {
                service = service ?? concept(item, path: "\(path).serviceType[\(index)]").text
            }
            var basedOn: String?
            for (index, item) in array(members, "basedOn", path: path).enumerated() {
                basedOn = basedOn ?? reference(item, path: "\(path).basedOn[\(index)]")?.display
            }
            guard let status, let patient, issues.isEmpty else { return nil }
            var item = FHIRFeedItem(resourceType: "Appointment", label: label, path: path, event: nil, ignored: nil)
            let kind: FeedEvent.Kind
            switch status {
            case "booked", "pending", "proposed": kind = .appointmentBooked
            case "cancelled", "noshow", "entered-in-error": kind = .appointmentCancelled
            default:
                item.ignored = "an appointment \(status): nothing to pre-fetch or cancel"
                return item
            }
            item.event = FeedEvent(
                kind: kind, nhsNumber: patient, reference: businessReference, at: start,
                place: location ?? service ?? basedOn,
                clinician: clinician, source: source, messageID: messageID)
            return item
        }

        mutating func serviceRequest(_ value: FHIRJSON, path: String, source: String) -> FHIRFeedItem? {
            guard let members = object(value, path: path, allowed: FHIRFeedMapping.serviceRequestElements) else {
                return nil
            }
            modifiers(members, path: path)
            let (label, businessReference, messageID) = identity(
                members, value, type: "ServiceRequest", path: path, what: "order")
            let status = code(members, "status", path: path, in: FHIRFeedMapping.requestStatuses, required: true)
            _ = code(members, "intent", path: path, in: FHIRFeedMapping.requestIntents, required: true)
            let contained = contained(members, path: path)
            var patient: NHSNumber?
            if let subjectValue = members["subject"] {
                if let subject = reference(subjectValue, path: path + ".subject") {
                    let target = subject.target(contained)
                    if let target, target != "Patient" {
                        fail(
                            path + ".subject", "business-rule",
                            "the order is for a \(target.prefix(40)), not a Patient", structural: false)
                    } else {
                        patient = nhsNumber(subject, path: path + ".subject", contained: contained, containerPath: path)
                    }
                }
            } else {
                fail(path + ".subject", "required", "subject is required (the patient, by NHS number)")
            }
            var at: Date?
            if let text = string(members, "occurrenceDateTime", path: path) {
                at = FHIRFeedMapping.time(text, dateOnly: true)
                if at == nil {
                    fail(
                        path + ".occurrenceDateTime", "value",
                        "'\(text.prefix(40))' is not a FHIR dateTime this node can place (a day, or a time with "
                            + "its zone; a year or month alone cannot place an order)")
                }
            } else if let period = object(
                members["occurrencePeriod"], path: path + ".occurrencePeriod", allowed: FHIRFeedMapping.periodElements),
                let text = string(period, "start", path: path + ".occurrencePeriod")
            {
                at = FHIRFeedMapping.time(text, dateOnly: true)
                if at == nil {
                    fail(path + ".occurrencePeriod.start", "value", "'\(text.prefix(40))' is not a FHIR dateTime")
                }
            }
            if let authored = string(members, "authoredOn", path: path),
                FHIRFeedMapping.time(authored, dateOnly: true) == nil
            {
                fail(path + ".authoredOn", "value", "'\(authored.prefix(40))' is not a FHIR dateTime")
            }
            var procedure: String?
            if let code = members["code"] {
                let read = concept(code, path: path + ".code")
                procedure = read.code ?? read.text
            }
            var clinician: String?
            if let requester = members["requester"], let actor = reference(requester, path: path + ".requester") {
                clinician = name(actor, contained: contained)
            }
            var place: String?
            for (index, item) in array(members, "locationReference", path: path).enumerated() {
                if let location = reference(item, path: "\(path).locationReference[\(index)]") {
                    place = place ?? name(location, contained: contained)
                }
            }
            for (index, item) in array(members, "locationCode", path: path).enumerated() {
                place = place ?? concept(item, path: "\(path).locationCode[\(index)]").text
            }
            guard let status, let patient, issues.isEmpty else { return nil }
            var item = FHIRFeedItem(resourceType: "ServiceRequest", label: label, path: path, event: nil, ignored: nil)
            let kind: FeedEvent.Kind
            switch status {
            case "active": kind = .imagingOrdered
            case "revoked", "entered-in-error": kind = .appointmentCancelled
            default:
                item.ignored = "an order \(status): nothing to pre-fetch or cancel"
                return item
            }
            item.event = FeedEvent(
                kind: kind, nhsNumber: patient, reference: businessReference, at: at, place: place,
                clinician: clinician,
                procedure: procedure, source: source, messageID: messageID)
            return item
        }

        /// A Subscription notification Bundle.
        mutating func notification(_ value: FHIRJSON, source: String) -> FHIRNotification? {
            let path = "Bundle"
            guard case .object(let raw) = value else {
                fail(path, "structure", "must be a FHIR Bundle (a JSON object), not \(value.typeName)")
                return nil
            }
            guard let type = raw["resourceType"]?.string else {
                fail(path + ".resourceType", "required", "resourceType is required")
                return nil
            }
            guard type == "Bundle" else {
                fail(path + ".resourceType", "not-supported", "'\(type.prefix(40))': a notification is a Bundle")
                return nil
            }
            guard let members = object(value, path: path, allowed: FHIRFeedMapping.bundleElements) else { return nil }
            // FHIR's JSON rules for the Bundle's own elements (each resource is checked as it is read).
            for key in members.keys.sorted() where key != "entry" {
                general(members[key]!, path: path + "." + key, inExtensionArray: key.hasPrefix("_"))
            }
            if let timestamp = string(members, "timestamp", path: path), FHIRFeedMapping.time(timestamp) == nil {
                fail(path + ".timestamp", "value", "'\(timestamp.prefix(40))' is not a FHIR instant")
            }
            if members["implicitRules"] != nil {
                fail(path + ".implicitRules", "not-supported", "this node knows no implicit rules", structural: false)
            }
            let bundleType = code(
                members, "type", path: path,
                in: [
                    "document", "message", "transaction", "transaction-response", "batch", "batch-response",
                    "history", "searchset", "collection", "subscription-notification",
                ], required: true)
            if let bundleType, bundleType != "history", bundleType != "subscription-notification" {
                fail(
                    path + ".type", "business-rule",
                    "a \(bundleType) Bundle is not a Subscription notification (history, as the R4 backport "
                        + "sends, or subscription-notification)", structural: false)
            }
            let entries = array(members, "entry", path: path)
            if members["entry"] == nil {
                fail(path + ".entry", "required", "a notification starts with its status entry")
            }
            guard issues.isEmpty else { return nil }
            var notificationType = "event-notification"
            var items: [FHIRFeedItem] = []
            for (index, entry) in entries.enumerated() {
                let entryPath = "\(path).entry[\(index)]"
                guard let fields = object(entry, path: entryPath, allowed: FHIRFeedMapping.entryElements) else {
                    continue
                }
                for key in fields.keys.sorted() where key != "resource" {
                    general(fields[key]!, path: entryPath + "." + key, inExtensionArray: key.hasPrefix("_"))
                }
                if fields["modifierExtension"] != nil {
                    fail(entryPath + ".modifierExtension", "not-supported", "no modifier extension is understood")
                }
                guard let resource = fields["resource"] else {
                    fail(
                        entryPath + ".resource", "required",
                        index == 0
                            ? "the first entry must be the notification's status"
                            : "an entry without its resource (an id-only notification): subscribe with "
                                + "full-resource content", structural: false)
                    continue
                }
                let resourcePath = entryPath + ".resource"
                if index == 0 {
                    notificationType = status(resource, path: resourcePath) ?? notificationType
                    continue
                }
                if let item = self.resource(
                    resource, path: resourcePath, expected: ["Appointment", "ServiceRequest"], source: source)
                {
                    items.append(item)
                }
            }
            if issues.isEmpty, items.isEmpty, notificationType == "event-notification" {
                fail(
                    path + ".entry", "required", "an event notification that carries no Appointment or ServiceRequest",
                    structural: false)
            }
            guard issues.isEmpty else { return nil }
            return FHIRNotification(type: notificationType, items: items)
        }

        /// The notification's status entry: its `type` (`Parameters.parameter.where(name='type')`
        /// in the R4 backport, `SubscriptionStatus.type` in R4B and R5).
        mutating func status(_ value: FHIRJSON, path: String) -> String? {
            let types: Set<String> = ["handshake", "heartbeat", "event-notification", "query-status", "query-event"]
            let resourceType = value["resourceType"]?.string
            general(value, path: path)
            switch resourceType {
            case "SubscriptionStatus":
                guard case .object(let members) = value else { return nil }
                return code(members, "type", path: path, in: types, required: true)
            case "Parameters":
                guard case .object(let members) = value else { return nil }
                for (index, parameter) in array(members, "parameter", path: path).enumerated()
                where parameter["name"]?.string == "type" {
                    let found = parameter["valueCode"]?.string
                    guard let found, types.contains(found) else {
                        fail(
                            "\(path).parameter[\(index)].valueCode", "value",
                            "the notification type must be one of \(types.sorted().joined(separator: ", "))")
                        return nil
                    }
                    return found
                }
                fail(path + ".parameter", "required", "the status names no notification type (parameter 'type')")
                return nil
            default:
                fail(
                    path + ".resourceType", "not-supported",
                    "the first entry must be the notification's status (Parameters, as the R4 backport sends, or "
                        + "SubscriptionStatus), not \(resourceType.map { String($0.prefix(40)) } ?? "a resource without a type")"
                )
                return nil
            }
        }
    }
}

extension UInt8 {
    fileprivate var isFHIRIDCharacter: Bool {
        (48...57).contains(self) || (65...90).contains(self) || (97...122).contains(self) || self == 45 || self == 46
    }
}
