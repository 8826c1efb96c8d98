#!/usr/bin/python3
"""Plays a hospital PAS against a node's HL7 v2 door (docs/ARCHITECTURE.md, "HL7 v2 feed (issue 18)").

Messages are built with python-hl7 (Debian's python3-hl7, run with the system's /usr/bin/python3)
and sent over real MLLP sockets; each acknowledgement is read back with python-hl7 too. Prints one
JSON object: for each step, the ACK code (MSA-1), the control ID it acknowledges (MSA-2) and its
text (MSA-3), or "closed" when the node closed the connection without answering.

usage: hl7-feed.py HOST PORT REFUSED_SOURCE
"""
import json, socket, sys
import hl7

START, END = b"\x0b", b"\x1c\x0d"


def nhs_numbers(count, base=943476500):
    """Valid NHS numbers (modulus 11), from base upwards."""
    found = []
    n = base
    while len(found) < count:
        digits = [int(c) for c in f"{n:09d}"]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            found.append(f"{n:09d}{check}")
        n += 1
    return found


def message(kind, control, nhs, reference, when, place="Fracture clinic", clinician=("C456", "Khan", "Aisha", "Dr")):
    """An SIU message of `kind` (S12, S15…), filled in field by field with python-hl7's
    assign_field (a skeleton holds a placeholder wherever a value goes)."""
    text = "\r".join([
        "MSH|^~\\&|PAS|RRK|TRUSTMESH|RRK|20261205120000||SIU^S12^SIU_S12|X|P|2.5",
        "SCH|r^PAS",
        "PID|1||m^^^RRK^MR~n^^^NHS^NH" if nhs is not None else "PID|1||m^^^RRK^MR",
        "RGS|1|A",
        "AIS|1|A|XR|t",
        "AIL|1|A|p",
        "AIP|1|A|i^f^g^^^d",
    ])
    msg = hl7.parse(text)
    msg.assign_field(kind, "MSH", 1, 9, 1, 2)
    msg.assign_field(control, "MSH", 1, 10)
    msg.assign_field(reference, "SCH", 1, 1, 1, 1)
    msg.assign_field("RRK" + control, "PID", 1, 3, 1, 1)
    if nhs is not None:
        msg.assign_field(nhs, "PID", 1, 3, 2, 1)
    msg.assign_field(when, "AIS", 1, 4)
    # A clinic's name that holds the component separator travels escaped (\S\).
    msg.assign_field(msg.escape(place), "AIL", 1, 3)
    for component, value in zip([1, 2, 3, 6], clinician):
        msg.assign_field(value, "AIP", 1, 3, 1, component)
    return str(msg)


def connect(host, port, source=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    if source:
        sock.bind((source, 0))
    sock.connect((host, port))
    return sock


def exchange(sock, payload):
    """Sends one frame; returns the ACK's MSA fields, or {"ack": "closed"}."""
    sock.sendall(START + payload + END)
    data = b""
    while not data.endswith(END):
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            return {"ack": "closed"}
        data += chunk
    ack = hl7.parse(data[1:-2].decode("utf-8"))
    msa = ack.segment("MSA")
    err = ack.segments("ERR")[0] if any(str(s[0]) == "ERR" for s in ack) else None
    return {
        "ack": str(msa[1]), "acknowledges": str(msa[2]), "text": ack.unescape(str(msa[3])) if len(msa) > 3 else "",
        "err": ack.unescape(str(err[8])) if err is not None and len(err) > 8 else "",
        "receiver": str(ack.segment("MSH")[5]),
    }


def main():
    host, port, refused_source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = {"clinic": []}
    patients = nhs_numbers(20)
    out["patients"] = patients
    with connect(host, port) as sock:
        # A clinic of 20 appointments tomorrow, 09:00 to 13:45 London time, on one connection.
        for i, nhs in enumerate(patients):
            when = f"20261206{9 + i // 4:02d}{(i % 4) * 15:02d}00"
            text = message("S12", f"CLINIC{i:03d}", nhs, f"APT-{i:03d}", when,
                           place="Fracture clinic^Plaster room")
            out["clinic"].append(exchange(sock, text.encode("utf-8")))
        # A cancellation of the first.
        out["cancel"] = exchange(sock, message("S15", "CANCEL000", patients[0], "APT-000", "").encode())
        # A resend of the third booking (its ACK lost): acknowledged, not delivered twice.
        third = message("S12", "CLINIC002", patients[2], "APT-002", "20261206093000",
                        place="Fracture clinic^Plaster room")
        out["resend"] = exchange(sock, third.encode())
        # Malformed: no NHS number in PID-3, a bad check digit, a bad time, no MSH.
        out["noNHS"] = exchange(sock, message("S12", "BAD1", None, "APT-900", "20261206090000").encode())
        bad = patients[3][:9] + str((int(patients[3][9]) + 1) % 10)
        out["checkDigit"] = exchange(sock, message("S12", "BAD2", bad, "APT-901", "20261206090000").encode())
        out["badNumber"] = bad
        out["badTime"] = exchange(sock, message("S12", "BAD3", patients[4], "APT-902", "20261306").encode())
        out["noMSH"] = exchange(sock, b"PID|1||9434765919^^^NHS^NH\r")
        # Not used by the node: acknowledged AA.
        out["ignored"] = exchange(sock, message("S12", "A08", patients[5], "x", "").replace(
            "SIU^S12^SIU_S12", "ADT^A08").encode())
    with connect(host, port) as sock:
        # Larger than 1 MiB: AR, and the connection closed.
        huge = message("S12", "HUGE", patients[6], "APT-903", "20261206090000") + "NTE|1||" + "x" * (1 << 20)
        out["oversized"] = exchange(sock, huge.encode())
        out["afterOversized"] = exchange(sock, message("S12", "AFTER", patients[6], "APT-904", "").encode())
    # From an address not allowed: closed before anything is read, never answered.
    with connect(host, port, source=refused_source) as sock:
        out["notAllowed"] = exchange(sock, message("S12", "SNEAK", patients[7], "APT-905", "").encode())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
