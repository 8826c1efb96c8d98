import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
package import TrustMeshAccess
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore

/// FHIR R4 search over the federated index: `GET /fhir/ImagingStudy?patient.identifier=SYSTEM|NHS`
/// (or `subject:identifier=`) answers a `searchset` Bundle of ImagingStudy resources, one per study
/// at each holding trust, as `application/fhir+json`.
///
/// Each ImagingStudy (FHIR R4 ImagingStudy, https://hl7.org/fhir/R4/imagingstudy.html) has:
/// - `id`: the holder's ODS code and a BLAKE2b digest of the Study Instance UID (FHIR ids are at most
///   64 characters, and one study may be held by several trusts);
/// - `identifier`: the Study Instance UID as `urn:dicom:uid` / `urn:oid:UID` (R4's rule for DICOM
///   UIDs), and the accession number (type `ACSN`) when there is one;
/// - `status` `available`, `subject` a logical reference by NHS number
///   (`https://fhir.nhs.uk/Id/nhs-number`), `started` (the study date), `modality` (DICOM DCM codes),
///   `numberOfSeries`, `numberOfInstances`, `description`;
/// - the holding trust as a contained Organization with its ODS code
///   (`https://fhir.nhs.uk/Id/ods-organization-code`), referenced as the `assigner` of the accession
///   number (which that trust issued) or, without one, of the study identifier. ImagingStudy has no
///   "custodian" element; the assigner is the closest R4 element that takes an Organization.
///
/// Bad or unsupported parameters answer 400 with an OperationOutcome. An opted-out patient gets an
/// empty Bundle with an informational OperationOutcome entry (`search.mode` `outcome`).
package enum FHIRImagingStudy {
    static let nhsSystem = "https://fhir.nhs.uk/Id/nhs-number"
    static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
    static let dicomSystem = "http://dicom.nema.org/resources/ontology/DCM"
    static let contentType = "application/fhir+json; charset=utf-8"

    /// The patient named by the search parameters, or an OperationOutcome's text.
    static func patient(_ fields: [String: String]) -> Result<NHSNumber, InputProblem> {
        let names = ["patient.identifier", "subject:identifier", "patient:identifier", "subject.identifier"]
        let supported = Set(names + ["_format"])
        if let unknown = fields.keys.sorted().first(where: { !supported.contains($0) }) {
            return .failure(
                InputProblem(
                    unknown,
                    "the search parameter '\(unknown.prefix(40))' is not supported; search by "
                        + "patient.identifier=\(nhsSystem)|NHS-NUMBER"))
        }
        if let format = fields["_format"], !["json", "application/fhir+json", "application/json"].contains(format) {
            return .failure(InputProblem("_format", "only JSON is served (_format=json)"))
        }
        let given = names.compactMap { fields[$0] }
        guard let token = given.first, given.count == 1 else {
            return .failure(
                InputProblem(
                    "patient.identifier",
                    given.isEmpty
                        ? "give the patient as patient.identifier=\(nhsSystem)|NHS-NUMBER"
                        : "give the patient once"))
        }
        let parts = token.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        let value = String(parts.count == 2 ? parts[1] : parts[0])
        if parts.count == 2, parts[0] != nhsSystem {
            return .failure(
                InputProblem("patient.identifier", "only NHS numbers (system \(nhsSystem)) identify patients here"))
        }
        do { return .success(try NHSNumber(value)) } catch {
            return .failure(
                InputProblem("patient.identifier", "'\(value.prefix(20))' is not a valid NHS number: \(error)"))
        }
    }

    /// The searchset Bundle for a patient's studies.
    static func bundle(_ result: FederatedQueryResult, topology: Topology, selfURL: String, now: Date = Date())
        -> [String: Any]
    {
        var entries: [[String: Any]] = result.studies.map { study in
            let resource = imagingStudy(study, nhsNumber: result.nhsNumber, topology: topology)
            return [
                "fullUrl": "urn:uuid:" + uuid(study.holder + "\u{0}" + study.studyInstanceUID),
                "resource": resource, "search": ["mode": "match"],
            ]
        }
        if result.optedOut {
            entries.append([
                "fullUrl": "urn:uuid:" + uuid("outcome\u{0}" + result.nhsNumber),
                "resource": outcome(
                    severity: "information", code: "suppressed",
                    "the patient has opted out of sharing imaging: no studies are listed or shared"),
                "search": ["mode": "outcome"],
            ])
        }
        return [
            "resourceType": "Bundle", "id": UUID().uuidString.lowercased(),
            "meta": ["lastUpdated": timestamp(now)], "type": "searchset", "total": result.studies.count,
            "link": [["relation": "self", "url": selfURL]], "entry": entries,
        ]
    }

    static func imagingStudy(_ study: FederatedQueryResult.Study, nhsNumber: String, topology: Topology)
        -> [String: Any]
    {
        let holderName =
            study.holderName ?? (try? TrustID(study.holder)).flatMap { topology.trust($0)?.name } ?? study.holder
        var organization: [String: Any] = [
            "resourceType": "Organization", "id": "holder",
            "identifier": [["system": odsSystem, "value": study.holder]], "name": holderName, "active": true,
        ]
        organization["type"] = [
            [
                "coding": [
                    [
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov",
                        "display": "Healthcare Provider",
                    ]
                ]
            ]
        ]
        var studyIdentifier: [String: Any] = [
            "system": "urn:dicom:uid", "value": "urn:oid:" + study.studyInstanceUID,
        ]
        var identifiers: [[String: Any]] = []
        if let accession = study.accessionNumber, !accession.isEmpty {
            identifiers.append(studyIdentifier)
            identifiers.append([
                "type": [
                    "coding": [["system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"]]
                ],
                "value": accession, "assigner": ["reference": "#holder", "display": holderName],
            ])
        } else {
            studyIdentifier["assigner"] = ["reference": "#holder", "display": holderName]
            identifiers.append(studyIdentifier)
        }
        var resource: [String: Any] = [
            "resourceType": "ImagingStudy",
            "id": study.holder.lowercased() + "-" + BLAKE2b256.hash(Array(study.studyInstanceUID.utf8)).hex.prefix(40),
            "contained": [organization], "identifier": identifiers, "status": "available",
            "subject": ["identifier": ["system": nhsSystem, "value": nhsNumber]],
            "numberOfSeries": study.seriesCount, "numberOfInstances": study.instanceCount,
        ]
        let modalities = study.modalities.filter { !$0.isEmpty }
        if !modalities.isEmpty {
            resource["modality"] = modalities.map { ["system": dicomSystem, "code": $0] }
        }
        if let date = study.studyDate, date.count == 8, date.allSatisfy(\.isNumber) {
            resource["started"] = "\(date.prefix(4))-\(date.dropFirst(4).prefix(2))-\(date.suffix(2))"
        }
        if let description = study.description, !description.isEmpty { resource["description"] = description }
        return resource
    }

    static func outcome(severity: String = "error", code: String, _ text: String) -> [String: Any] {
        [
            "resourceType": "OperationOutcome",
            "issue": [["severity": severity, "code": code, "diagnostics": text]],
        ]
    }

    static func response(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        response.headers[.contentType] = contentType
        return response
    }

    /// A UUID (version 4 layout) derived from text, so an entry's `fullUrl` is stable across searches.
    static func uuid(_ text: String) -> String {
        var bytes = Array(BLAKE2b256.hash(Array(text.utf8)).rawBytes.prefix(16))
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let h = Array(hex)
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-"
            + String(h[20..<32])
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

extension FHIRImagingStudy {
    /// The FHIR door: `GET /fhir/ImagingStudy`, behind `middleware` (outermost first). Every
    /// failure is answered as an OperationOutcome.
    package static func routes(
        _ services: LocalServices, middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = []
    ) -> RouteCollection<AccessContext> {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.get("/fhir/ImagingStudy") { request, context -> Response in
            switch patient(HTML.query(of: request)) {
            case .failure(let problem):
                return response(.badRequest, outcome(code: "invalid", "\(problem.field): \(problem.message)"))
            case .success(let nhs):
                do {
                    let topology = services.topology
                    let actor = context.identity?.actor ?? .system("FHIR client")
                    let result = try services.node.query(nhs: nhs, topology: topology, by: actor)
                    let selfURL =
                        services.baseURL + "/fhir/ImagingStudy?patient.identifier="
                        + HTML.query("\(nhsSystem)|\(nhs.digits)")
                    return response(.ok, bundle(result, topology: topology, selfURL: selfURL))
                } catch {
                    services.logger.error("FHIR search failed", metadata: ["error": "\(error)"])
                    return response(
                        .internalServerError, outcome(code: "exception", "the node could not answer; see its log"))
                }
            }
        }
        return router
    }
}
