#!/usr/bin/env python3
"""Plays a hospital's integration engine against a node's FHIR feed door (docs/ARCHITECTURE.md, "FHIR feed").

  fhir-feed.py build NHS START     print the resources to post, as one JSON object
  fhir-feed.py outcomes FILE       check that FILE (a JSON list) holds only valid OperationOutcomes

`build` makes each resource with the `fhir.resources` models (pydantic, generated from the FHIR
specification; version 8 carries R5 by default and R4B as a subpackage, whose Appointment,
ServiceRequest, Bundle, Parameters and OperationOutcome are R4's structures unchanged, so R4B is
used). Each entry is {"body": TEXT, "fhirResources": "valid" | the first line of the models'
refusal}: valid resources are built through the models and written by them; the faulty ones are
made from a valid one, then broken, and put through the models again, so that the test can tell
a resource FHIR itself refuses from one only the door's rules refuse (a bad NHS check digit).
NHS is a valid NHS number, START the appointment's start (an ISO 8601 instant, UTC).
"""
import copy
import json
import sys
from datetime import datetime, timedelta

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
MODELS = {"Appointment": Appointment, "ServiceRequest": ServiceRequest, "Bundle": Bundle}


def bad_check_digit(nhs):
    """The same number with another last digit, which fails the modulus-11 check."""
    return nhs[:9] + str((int(nhs[9]) + 1) % 10)


def judged(resource):
    """What the fhir.resources models say of a resource: "valid" or the first line of their refusal."""
    model = MODELS.get(resource.get("resourceType"))
    if model is None:
        return f"no model for {resource.get('resourceType')}"
    try:
        model.model_validate(resource)
        return "valid"
    except Exception as error:  # pydantic's ValidationError names every element that failed
        lines = [line for line in str(error).splitlines() if line.strip()]
        return " / ".join(lines[:2])


def made(model, data):
    """A resource built through its model and written back by it (so only what FHIR allows)."""
    return json.loads(model.model_validate(data).model_dump_json())


def appointment(nhs, start, version="1", status="booked"):
    end = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return made(Appointment, {
        "resourceType": "Appointment", "id": "apt-100", "meta": {"versionId": version},
        "identifier": [{"system": "https://pas.rrk.nhs.uk/appointment", "value": "APT-100"}],
        "status": status, "start": start, "end": end,
        "serviceType": [{"text": "Fracture clinic follow-up"}],
        "participant": [
            {"actor": {"type": "Patient", "identifier": {"system": NHS_SYSTEM, "value": nhs}, "display": "A Patient"},
             "status": "accepted"},
            {"actor": {"reference": "Practitioner/C456", "display": "Dr Aisha Khan"}, "status": "accepted"},
            {"actor": {"reference": "Location/FRAC", "display": "Fracture clinic"}, "status": "accepted"},
        ],
    })


def service_request(nhs, when, version="1"):
    return made(ServiceRequest, {
        "resourceType": "ServiceRequest", "id": "ord-200", "meta": {"versionId": version},
        "identifier": [{"system": "https://ris.rrk.nhs.uk/placer", "value": "ORD-200"}],
        "status": "active", "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "169069000", "display": "CT of chest"}]},
        "subject": {"identifier": {"system": NHS_SYSTEM, "value": nhs}},
        "occurrenceDateTime": when, "requester": {"display": "Dr Ben Okafor"},
        "locationReference": [{"display": "CT scanner 2"}],
    })


def notification(entries, kind="event-notification"):
    """An R4 backport (Subscriptions R5 Backport IG) rest-hook notification: a history Bundle whose
    first entry is the SubscriptionStatus as Parameters."""
    status = {
        "resourceType": "Parameters", "id": "status-1",
        "meta": {"profile": [
            "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"]},
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": "https://pas.rrk.nhs.uk/fhir/Subscription/s1"}},
            {"name": "topic", "valueCanonical": "https://pas.rrk.nhs.uk/topics/appointments"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(len(entries))},
        ],
    }
    return made(Bundle, {
        "resourceType": "Bundle", "id": "note-1", "type": "history", "timestamp": "2026-12-05T12:00:00Z",
        "entry": [{"fullUrl": "urn:uuid:5b5d7e0a-7c1b-4c1e-9d36-4d2b2f3a1a01", "resource": status,
                   "request": {"method": "GET", "url": "https://pas.rrk.nhs.uk/fhir/Subscription/s1/$status"},
                   "response": {"status": "200"}}]
        + [{"fullUrl": f"https://pas.rrk.nhs.uk/fhir/{r['resourceType']}/{r['id']}", "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}, "response": {"status": "200"}}
           for r in entries],
    })


def build(nhs, start):
    out = {}

    def add(name, resource, text=None):
        body = text if text is not None else json.dumps(resource)
        try:
            verdict = judged(json.loads(body))  # Python's json keeps the last of a key given twice
        except ValueError as error:
            verdict = f"not JSON: {error}"
        out[name] = {"body": body, "fhirResources": verdict}

    booked = appointment(nhs, start)
    add("appointment", booked)
    order = service_request(nhs, start[:10])
    add("serviceRequest", order)
    cancelled = appointment(nhs, start, version="2", status="cancelled")
    add("notification", notification([cancelled, service_request(nhs, start[:10], version="2")]))
    add("handshake", notification([], kind="handshake"))

    contained = copy.deepcopy(booked)
    contained["id"], contained["identifier"][0]["value"] = "apt-101", "APT-101"
    contained["contained"] = [{"resourceType": "Patient", "id": "p1",
                               "identifier": [{"system": NHS_SYSTEM, "value": nhs}]}]
    contained["participant"][0]["actor"] = {"reference": "#p1"}
    add("containedPatient", made(Appointment, contained))

    # Refused by FHIR itself (the models refuse them too) ...
    broken = copy.deepcopy(booked)
    del broken["status"]
    add("noStatus", broken)
    broken = copy.deepcopy(booked)
    broken["start"] = start[:5] + "02-30" + start[10:]
    add("badDate", broken)
    broken = copy.deepcopy(booked)
    broken["colour"] = "blue"
    add("unknownElement", broken)
    broken = copy.deepcopy(order)
    del broken["subject"]
    add("noSubject", broken)
    add("notJSON", booked, text=json.dumps(booked)[:-1] + ",}")  # a trailing comma
    add("duplicateKey", booked, text=json.dumps(booked)[:-1] + ', "status": "cancelled"}')
    # ... and by FHIR but not by the models (a code outside its required value set), or only by
    # the door's rules (the models accept them).
    broken = copy.deepcopy(booked)
    broken["participant"][0]["status"] = "maybe"
    add("badCode", broken)
    broken = copy.deepcopy(booked)
    broken["participant"][0]["actor"]["identifier"]["value"] = bad_check_digit(nhs)
    add("badCheckDigit", broken)
    broken = copy.deepcopy(booked)
    broken["participant"][0]["actor"] = {"reference": "Patient/123"}
    add("unresolvablePatient", broken)
    broken = copy.deepcopy(order)
    broken["subject"]["identifier"]["value"] = bad_check_digit(nhs)
    add("notificationOneBad", notification([appointment(nhs, start, version="5"), broken]))
    add("notABundleType", dict(notification([appointment(nhs, start, version="6")]), type="collection"))
    print(json.dumps(out, sort_keys=True))


def outcomes(path):
    answers = json.load(open(path))
    for index, answer in enumerate(answers):
        try:
            OperationOutcome.model_validate(answer)
        except Exception as error:
            print(f"fhir-feed: answer {index} is not a valid OperationOutcome: {error}", file=sys.stderr)
            sys.exit(1)
    print(f"{len(answers)} OperationOutcomes valid")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "outcomes":
        outcomes(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
