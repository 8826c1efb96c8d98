#!/usr/bin/env python3
"""Validates a node's FHIR ImagingStudy search answer against the FHIR structure definitions.

Usage: validate-fhir.py BUNDLE.json [EXPECTED_NHS_NUMBER]

Parses the searchset Bundle and every ImagingStudy in it with the `fhir.resources` models
(pydantic, generated from the FHIR specification: element names, types, cardinality, required
elements, enumerated codes such as ImagingStudy.status and Bundle.type). fhir.resources 8 carries
FHIR R5 as its default and R4B (4.3.0) as a subpackage; R4B's Bundle, ImagingStudy, Organization
and OperationOutcome are the R4 (4.0.1) structures unchanged, so R4B is used. Then checks the
TrustMesh profile: identifiers, subject, modality system and the holding trust's ODS code.
Prints one line per study and exits 1 on the first problem.
"""
import json
import sys

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.imagingstudy import ImagingStudy

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def fail(message):
    print(f"validate-fhir: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    raw = json.load(open(sys.argv[1]))
    expected = sys.argv[2] if len(sys.argv) > 2 else None
    try:
        bundle = Bundle.model_validate(raw)
    except Exception as error:  # pydantic's ValidationError lists every element that failed
        fail(f"the Bundle does not conform to FHIR R4(B): {error}")
    if bundle.type != "searchset":
        fail(f"Bundle.type is {bundle.type}, not searchset")
    studies = [e for e in (raw.get("entry") or []) if e["resource"]["resourceType"] == "ImagingStudy"]
    if bundle.total != len(studies):
        fail(f"Bundle.total {bundle.total} but {len(studies)} ImagingStudy entries")
    for entry in studies:
        study = ImagingStudy.model_validate(entry["resource"])
        if entry.get("search", {}).get("mode") != "match":
            fail("an ImagingStudy entry's search.mode is not match")
        if study.status != "available":
            fail(f"status {study.status}")
        uids = [i.value for i in study.identifier if i.system == "urn:dicom:uid"]
        if len(uids) != 1 or not uids[0].startswith("urn:oid:"):
            fail(f"study identifier {uids}")
        subject = study.subject.identifier
        if subject.system != NHS or (expected and subject.value != expected):
            fail(f"subject {subject.system}|{subject.value}")
        if not study.modality or any(m.system != DCM for m in study.modality):
            fail("modality missing or not DICOM DCM codes")
        orgs = [c for c in (study.contained or []) if c.get_resource_type() == "Organization"]
        if len(orgs) != 1 or not any(i.system == ODS and i.value for i in orgs[0].identifier):
            fail("the holding trust is not a contained Organization with an ODS code")
        refs = [i.assigner.reference for i in study.identifier if i.assigner is not None]
        if f"#{orgs[0].id}" not in refs:
            fail("the holding trust's Organization is not referenced")
        if study.numberOfSeries is None or study.numberOfInstances is None or study.started is None:
            fail("numberOfSeries, numberOfInstances or started missing")
        print(f"ok {uids[0]} at {orgs[0].identifier[0].value}: {study.numberOfSeries} series, "
              f"{study.numberOfInstances} instances, {study.started}")
    print(f"validate-fhir: {len(studies)} ImagingStudy resource(s) conform")


if __name__ == "__main__":
    main()
