"""A writer for the crash test: appends batches forever and reports each acknowledgement.

Usage: python crash_writer.py LOG_DIR TAG SEED. An acknowledgement line is written to stdout
(one write, under PIPE_BUF, so it arrives whole or not at all) only after `append` returned,
that is after the batch was fsynced: `ack TAG FIRST_INDEX COUNT FIRST_OFFSET`.
"""

import os
import random
import sys
import time

from events import EventStore, NewEvent, TrialProposed


def main() -> None:
    log_dir, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    store = EventStore(log_dir)
    os.write(1, f"open {store.next_offset}\n".encode())
    i = 0
    while True:
        n = rng.randint(1, 60)
        batch = [NewEvent(event=TrialProposed(trial_id=f"{tag}-{i + k}", agent="a", surface="a", parent_id=None,
                                              hypothesis="x" * rng.randint(10, 400)),
                          stream=f"trial/{tag}-{i + k}", event_id=f"{tag}-{i + k}", producer=tag,
                          expected_version=-1)
                 for k in range(n)]
        result = store.append(batch)
        os.write(1, f"ack {tag} {i} {n} {result.acks[0].offset}\n".encode())
        i += n
        time.sleep(rng.uniform(0, 0.012))  # keep the log small; kills still land mid-write


if __name__ == "__main__":
    main()
