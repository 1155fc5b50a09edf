"""dryrun's only phase: wait as long as the tier says (a stand-in for training time), then hand
the recipe to the evaluator as out/knobs.py."""

import os
import shutil
import sys
import time

if __name__ == "__main__":
    time.sleep(float(os.environ.get("DRYRUN_DELAY_S", "0")))
    shutil.copyfile("recipe/knobs.py", "out/knobs.py")
    print("copied recipe/knobs.py to out/knobs.py", file=sys.stderr)
