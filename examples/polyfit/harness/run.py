import argparse
import sys

from audit import install_audit

parser = argparse.ArgumentParser()
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()
install_audit()  # report forbidden behaviour to the evaluator
import numpy as np  # noqa: E402

sys.path.insert(0, "recipe")
import fit  # noqa: E402  (the recipe)

data = np.load("data/points.npz")
pred = fit.fit_predict(data["x"], data["y"], data["x_test"])
np.save("out/pred_smoke.npy" if args.smoke else "out/pred.npy", np.asarray(pred, dtype=np.float64))
