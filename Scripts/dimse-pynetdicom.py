#!/usr/bin/env python3
"""A second, independent DICOM implementation (pynetdicom) talking to a TrustMesh node.

    Scripts/dimse-pynetdicom.py HOST PORT AE_TITLE NHS_NUMBER FILE...

Over one association: C-ECHO, C-STORE of every FILE (as stored, no transcoding: each file's own
transfer syntax is proposed), then C-FIND at STUDY level (Study Root) for PatientID = NHS_NUMBER.
Prints one JSON object: the echo status, each store's status, and each match's keys.
Exits non-zero if the association is not accepted.
"""
import json
import sys

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification


def main():
    host, port, called, nhs, *files = sys.argv[1:]
    datasets = [dcmread(path) for path in files]
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(host, int(port), ae_title=called)
    if not assoc.is_established:
        print(json.dumps({"associated": False}))
        return 2
    out = {"associated": True, "stores": [], "matches": []}
    out["echo"] = assoc.send_c_echo().Status
    for ds in datasets:
        status = assoc.send_c_store(ds)
        out["stores"].append(status.Status if status else None)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = nhs
    query.StudyInstanceUID = ""
    query.StudyDate = ""
    query.ModalitiesInStudy = ""
    query.NumberOfStudyRelatedInstances = ""
    query.RetrieveAETitle = ""
    for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        if status and status.Status in (0xFF00, 0xFF01) and identifier is not None:
            out["matches"].append({
                "StudyInstanceUID": str(identifier.StudyInstanceUID),
                "PatientID": str(identifier.PatientID),
                "NumberOfStudyRelatedInstances": int(identifier.NumberOfStudyRelatedInstances),
                "RetrieveAETitle": str(identifier.RetrieveAETitle).strip(),
            })
        elif status:
            out["findStatus"] = status.Status
    assoc.release()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
