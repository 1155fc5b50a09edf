"""dryrun's only phase: run the recipe, wait as long as the tier says (a stand-in for training
time), then hand the recipe to the evaluator as out/knobs.py. The audit hook goes in first, as in
every harness, so that a recipe reaching for what it should not is reported, not only refused."""

import os
import runpy
import shutil
import sys
import time

from audit import install_audit

if __name__ == "__main__":
    install_audit()
    runpy.run_path("recipe/knobs.py")
    time.sleep(float(os.environ.get("DRYRUN_DELAY_S", "0")))
    shutil.copyfile("recipe/knobs.py", "out/knobs.py")
    if "AUTORECIPE_SEED" in os.environ:  # a seeded re-run (autorecipe confirm): the score gets seeded noise
        with open("out/seed.txt", "w") as f:
            f.write(os.environ["AUTORECIPE_SEED"])
    print("copied recipe/knobs.py to out/knobs.py", file=sys.stderr)
