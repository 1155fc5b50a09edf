"""dryrun's only phase: hand the recipe to the evaluator as out/knobs.py."""

import shutil
import sys

if __name__ == "__main__":
    shutil.copyfile("recipe/knobs.py", "out/knobs.py")
    print("copied recipe/knobs.py to out/knobs.py", file=sys.stderr)
