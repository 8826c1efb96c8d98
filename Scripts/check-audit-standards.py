#!/usr/bin/env python3
"""Checks `trustmesh audit export --format fhir|dicom` output with independent tools.

  check-audit-standards.py fhir BUNDLE.json
      Every resource is parsed by the fhir.resources models (R4B: fhir.resources 8 ships R5, R4B
      and STU3, no plain R4; AuditEvent is the same in R4 and R4B) and checked against the IHE
      Basic Audit Log Patterns constraints of the profile it claims (meta.profile), written as
      FHIRPath and evaluated by fhirpathpy, plus constraints every TrustMesh AuditEvent keeps
      (patients by NHS number, studies by Study Instance UID, the trust as an organisation).

  check-audit-standards.py dicom MESSAGES.xml SCHEMA.rnc
      Every line is one DICOM PS3.15 A.5 AuditMessage; all are validated against the A.5.1 schema
      with jing (Debian package `jing`).

Prints JSON: {"resources": [{"id", "kind", "type", "subtype", "action", "outcome", "profile",
"agents", "entities", "violations"}], "errors": [...]} for fhir, and {"messages": [{"line", "eventID",
"eventTypes", "action", "outcome", "participants", "objects"}], "errors": [...]} for dicom. Exits 1 if
any resource or message fails, else 0.
"""
import json, os, subprocess, sys, tempfile
import xml.etree.ElementTree as ET

DCM = "http://dicom.nema.org/resources/ontology/DCM"
KIND = "urn:trustmesh:audit-entry-kind"
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."

def dcm(code):
    return f"coding.where(system='{DCM}' and code='{code}').exists()"

ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PATIENT = f"entity.where(type.system='{ENTITY_TYPE}' and type.code='1' and role.system='{ROLE}' and role.code='1')"

def agent(code, system=DCM):
    return f"agent.where(type.coding.where(system='{system}' and code='{code}').exists())"

USER = agent("IRCP", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType")

def rest(subtypes, action, client, server):
    """BALP's RESTful patterns (Query, Read): type rest, a subtype, the action, success, a client and
    a server agent with who and network, at most one user (requestor, no network)."""
    codes = " | ".join(f"'{c}'" for c in subtypes)
    return [
        "type.system = 'http://terminology.hl7.org/CodeSystem/audit-event-type' and type.code = 'rest'",
        f"subtype.where(system = 'http://hl7.org/fhir/restful-interaction' and code in ({codes})).exists()",
        f"action = '{action}'",
        "outcome = '0'",
        f"{agent(client)}.count() = 1",
        f"{agent(client)}.all(who.exists() and network.exists())",
        f"{agent(server)}.count() = 1",
        f"{agent(server)}.all(who.exists() and network.exists())",
        f"{USER}.count() <= 1",
        f"{USER}.all(requestor = true and who.exists() and network.empty())",
    ]

QUERY = rest(["search", "search-type", "search-system"], "E", "110153", "110152") + [
    f"entity.where(type.system='{ENTITY_TYPE}' and type.code='2' and role.code='24').count() = 1",
    f"entity.where(role.code='24').all(query.exists() and what.empty() and detail.empty())",
]
READ = rest(["read", "vread"], "R", "110152", "110153") + [
    f"entity.where(type.code='2' and role.system='{ROLE}' and role.code in ('3' | '4' | '20')).count() = 1",
    f"entity.where(type.code='2' and role.code in ('3' | '4' | '20')).all(what.exists())",
]
PATIENT_ENTITY = [f"{PATIENT}.count() = 1", f"{PATIENT}.all(what.exists())"]

def disclosure(type_code, action, observer_agent):
    return [
        f"type.system = '{DCM}' and type.code = '{type_code}'",
        f"action = '{action}'",
        "subtype.where(system = 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle' and code = 'disclose').exists()",
        "outcome.exists()",
        "agent.count() >= 2",
        f"{agent('110153')}.count() = 1",
        f"{agent('110153')}.all(who.exists() and network.exists())",
        f"{agent('110152')}.count() = 1",
        f"{agent('110152')}.all(who.exists() and network.exists())",
        # val-audit-source: the agent that is this node is also the event's source.
        f"{agent(observer_agent)}.who = %resource.source.observer",
        "entity.count() >= 2",
    ] + PATIENT_ENTITY

PROFILES = {
    "Query": QUERY,
    "PatientQuery": QUERY + PATIENT_ENTITY,
    "Read": READ,
    "PatientRead": READ + PATIENT_ENTITY,
    "PrivacyDisclosure.Source": disclosure("110106", "R", "110153"),
    "PrivacyDisclosure.Recipient": disclosure("110107", "C", "110152"),
}

# What every TrustMesh AuditEvent keeps, whatever its profile.
COMMON = [
    "source.observer.exists()",
    "agent.all(requestor.exists())",
    # R4 sev-1: an entity has a name or a query, not both.
    "entity.all(name.empty() or query.empty())",
    f"subtype.where(system = '{KIND}').count() = 1",
    f"{PATIENT}.all(what.type = 'Patient' and what.identifier.system = 'https://fhir.nhs.uk/Id/nhs-number'"
    " and what.identifier.value.matches('^[0-9]{10}$'))",
    "entity.where(what.type = 'ImagingStudy').all(what.identifier.system = 'urn:dicom:uid'"
    " and what.identifier.value.startsWith('urn:oid:'))",
    "agent.where(type.coding.code = 'PROV').exists()",
    "agent.where(type.coding.code = 'PROV').all(who.identifier.system = "
    "'https://fhir.nhs.uk/Id/ods-organization-code' and who.identifier.value.matches('^[A-Z0-9]{3,5}$'))",
]


def check_fhir(path):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhirpathpy import evaluate

    errors, resources = [], []
    document = json.load(open(path, encoding="utf-8"))
    try:
        Bundle.model_validate(document)
    except Exception as error:  # noqa: BLE001 - every validation failure is reported
        errors.append(f"Bundle: {error}")
    for item in document.get("entry", []):
        resource = item.get("resource", {})
        violations = []
        try:
            AuditEvent.model_validate(resource)
        except Exception as error:  # noqa: BLE001
            violations.append(f"fhir.resources: {error}")
        profiles = [p[len(BALP):] for p in resource.get("meta", {}).get("profile", []) if p.startswith(BALP)]
        expressions = list(COMMON)
        for profile in profiles:
            if profile not in PROFILES:
                violations.append(f"unknown profile {profile}")
            expressions += PROFILES.get(profile, [])
        for expression in expressions:
            try:
                result = evaluate(resource, expression, {"resource": resource})
            except Exception as error:  # noqa: BLE001
                violations.append(f"{expression}: {error}")
                continue
            if result != [True]:
                violations.append(expression)
        resources.append({
            "id": resource.get("id"),
            "kind": next((s["code"] for s in resource.get("subtype", []) if s.get("system") == KIND), None),
            "type": resource.get("type", {}).get("code"),
            "subtype": [s.get("code") for s in resource.get("subtype", []) if s.get("system") != KIND],
            "action": resource.get("action"),
            "outcome": resource.get("outcome"),
            "profile": profiles[0] if profiles else None,
            "agents": [
                {"type": [c.get("code") for c in a.get("type", {}).get("coding", [])],
                 "who": a.get("who", {}).get("identifier", {}).get("value") or a.get("who", {}).get("display"),
                 "requestor": a.get("requestor")}
                for a in resource.get("agent", [])
            ],
            "entities": [
                {"role": e.get("role", {}).get("code"), "id": e.get("what", {}).get("identifier", {}).get("value")}
                for e in resource.get("entity", [])
            ],
            "violations": violations,
        })
    return {"resources": resources, "errors": errors}, bool(errors) or any(r["violations"] for r in resources)


def check_dicom(path, schema):
    errors, messages = [], []
    lines = [line for line in open(path, encoding="utf-8").read().split("\n") if line]
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for number, line in enumerate(lines, 1):
            name = os.path.join(folder, f"{number}.xml")
            with open(name, "w", encoding="utf-8") as handle:
                handle.write(line)
            files.append(name)
        if files:
            result = subprocess.run(["jing", "-c", schema] + files, capture_output=True, text=True)
            for report in result.stdout.splitlines():
                if report.startswith(folder):
                    errors.append("line " + report[len(folder) + 1:].replace(".xml:", ": ", 1))
            if result.returncode != 0 and not errors:
                errors.append(f"jing failed ({result.returncode}): {result.stdout}{result.stderr}")
    for number, line in enumerate(lines, 1):
        try:
            root = ET.fromstring(line)
        except ET.ParseError as error:
            errors.append(f"line {number}: not XML: {error}")
            continue
        event = root.find("EventIdentification")
        messages.append({
            "line": number,
            "eventID": event.find("EventID").get("csd-code"),
            "eventTypes": [(c.get("codeSystemName"), c.get("csd-code")) for c in event.findall("EventTypeCode")],
            "action": event.get("EventActionCode"),
            "outcome": event.get("EventOutcomeIndicator"),
            "participants": [
                {"user": p.get("UserID"), "requestor": p.get("UserIsRequestor"),
                 "roles": [r.get("csd-code") for r in p.findall("RoleIDCode")]}
                for p in root.findall("ActiveParticipant")
            ],
            "objects": [
                {"id": o.get("ParticipantObjectID"), "type": o.get("ParticipantObjectTypeCode"),
                 "role": o.get("ParticipantObjectTypeCodeRole"),
                 "idType": o.find("ParticipantObjectIDTypeCode").get("csd-code")}
                for o in root.findall("ParticipantObjectIdentification")
            ],
        })
    return {"messages": messages, "errors": errors}, bool(errors)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "fhir":
        report, failed = check_fhir(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "dicom":
        report, failed = check_dicom(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
    print(json.dumps(report, indent=1, sort_keys=True))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
