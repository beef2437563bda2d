"""Worker process of a split FIXML read (SPEC §2.3): one byte range into an Arrow IPC part.

Run by `pipeline.ingest.fixml` as `python -m pipeline.ingest._fixml_worker '<json spec>'` with the
parent's open input file inherited (the spec names its descriptor: the bytes are those the parent
hashes, even if the path is renamed over meanwhile); prints its outcome (count or error) as one
JSON line.
"""

from __future__ import annotations

import json
import sys

from pipeline.ingest.fixml import parse_part


def main(argv: list[str]) -> int:
    """Parse the range the JSON spec in `argv[1]` names; print the outcome as JSON."""
    print(json.dumps(parse_part(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
