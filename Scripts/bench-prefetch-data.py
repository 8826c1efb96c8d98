#!/usr/bin/env python3
"""Writes the imaging of a clinic for `Scripts/bench prefetch` (synthetic, no real patient).

usage: bench-prefetch-data.py OUT PATIENTS DAY HOLDER,HOLDER,...

PATIENTS patients (valid NHS numbers: modulus 11) each with 1-3 prior CT studies of 2-4 instances
(160x160, 16-bit, 12 bits of noise so that zstd does not erase them: ~51 KB each), spread over the
holders; about one study in six is also held at a second holder (the same files, byte for byte: a
copy an earlier transfer made) and about one in ten is already held at the clinic's node, RRK (and
at its holder). Writes OUT/DICOM/<TRUST>/<study>/*.dcm, one folder per trust for one
`trustmesh ingest` each; OUT/messages.jsonl, the clinic's SIU^S12 bookings for DAY (YYYYMMDD) in
Scripts/hl7-send.py's format; OUT/plan.json, every study with its holders and bytes. Also ten
studies of the same kind for a patient not in the clinic, one holder each in turn: the bench fetches
them by hand, one `trustmesh fetch` after another, as its reference.
"""
import json, os, random, sys

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT = "1.2.840.10008.5.1.4.1.1.2"


def nhs_numbers(count, base=402_000_000):
    found, n = [], base
    while len(found) < count:
        digits = [int(c) for c in str(n)]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            found.append(f"{n}{check}")
        n += 1
    return found


def instance(path, nhs, study_uid, series_uid, number, date, rng):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = f"{series_uid}.{number}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = date
    ds.StudyTime = "101500"
    ds.AccessionNumber = study_uid.rsplit(".", 1)[1]
    ds.Modality = "CT"
    ds.Manufacturer = "TrustMesh Synthetic"
    ds.StudyDescription = "CT RIGHT WRIST"
    ds.SeriesDescription = "AXIAL"
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = nhs
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "WRIST"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 160
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, size=160 * 160, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def main():
    out, count, day, holders = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
    rnd = random.Random(18)
    rng = np.random.default_rng(18)
    patients = nhs_numbers(count)
    studies = []
    for p, nhs in enumerate(patients):
        for s in range(rnd.randint(1, 3)):
            uid = f"1.2.826.0.1.3680043.10.18.{p + 1}.{s + 1}"
            holder = rnd.choice(holders)
            at = [holder]
            if rnd.random() < 1 / 6:
                at.append(rnd.choice([h for h in holders if h != holder]))
            if rnd.random() < 0.1:
                at.append("RRK")
            date = f"{rnd.randint(2016, 2025)}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}"
            folder = os.path.join(out, "DICOM", at[0], uid)
            os.makedirs(folder)
            size = 0
            for i in range(rnd.randint(2, 4)):
                path = os.path.join(folder, f"I{i + 1:04d}.dcm")
                instance(path, nhs, uid, uid + ".1", i + 1, date, rng)
                size += os.path.getsize(path)
            for other in at[1:]:  # the same bytes at every holder (hard links: ingest reads them)
                copy = os.path.join(out, "DICOM", other, uid)
                os.makedirs(copy)
                for name in os.listdir(folder):
                    os.link(os.path.join(folder, name), os.path.join(copy, name))
            studies.append({"nhs": nhs, "study": uid, "at": at, "bytes": size})
    # The reference: a patient not in the clinic with ten studies of the same kind, one at each holder
    # in turn, for fetches by hand (one `trustmesh fetch` after another) in the same run.
    reference = nhs_numbers(count + 1)[-1]
    by_hand = []
    for s in range(10):
        uid = f"1.2.826.0.1.3680043.10.18.0.{s + 1}"
        holder = holders[s % len(holders)]
        folder = os.path.join(out, "DICOM", holder, uid)
        os.makedirs(folder)
        size = 0
        for i in range(rnd.randint(2, 4)):
            path = os.path.join(folder, f"I{i + 1:04d}.dcm")
            instance(path, reference, uid, uid + ".1", i + 1, "20200101", rng)
            size += os.path.getsize(path)
        by_hand.append({"nhs": reference, "study": uid, "at": [holder], "bytes": size})
    with open(os.path.join(out, "messages.jsonl"), "w") as f:
        for p, nhs in enumerate(patients):  # 08:00 on, two minutes apart
            minutes = 8 * 60 + 2 * p
            when = f"{day}{minutes // 60 % 24:02d}{minutes % 60:02d}00" if minutes < 24 * 60 else f"{day}235900"
            f.write(json.dumps({"kind": "S12", "control": f"B{p}", "nhs": nhs, "reference": f"APT-{p}",
                                "when": when, "place": "Fracture clinic"}) + "\n")
    with open(os.path.join(out, "plan.json"), "w") as f:
        json.dump({"patients": patients, "studies": studies, "reference": by_hand}, f)


if __name__ == "__main__":
    main()
