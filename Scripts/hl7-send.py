#!/usr/bin/python3
"""Sends SIU messages to a node's HL7 v2 door, as a PAS would, from a list on standard input.

Each input line is a JSON object: {"kind": "S12"|"S13"|"S14"|"S15", "control": MSH-10,
"nhs": NHS number, "reference": SCH-1, "when": HL7 date/time or "", "place": AIL-3}. Messages
are built with python-hl7 by Scripts/hl7-feed.py's `message` (Debian's python3-hl7, run with
/usr/bin/python3) and sent on one MLLP connection; prints a JSON list of the acknowledgements
(MSA-1, MSA-2, MSA-3).

usage: hl7-send.py HOST PORT < messages.jsonl
"""
import importlib.util, json, os, sys

spec = importlib.util.spec_from_file_location("hl7feed", os.path.join(os.path.dirname(__file__), "hl7-feed.py"))
feed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(feed)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    acks = []
    with feed.connect(host, port) as sock:
        for line in sys.stdin:
            if not line.strip():
                continue
            m = json.loads(line)
            text = feed.message(m["kind"], m["control"], m["nhs"], m["reference"], m.get("when", ""),
                                place=m.get("place", "Fracture clinic"))
            acks.append(feed.exchange(sock, text.encode("utf-8")))
    print(json.dumps(acks))


if __name__ == "__main__":
    main()
