"""dryrun: a recipe that is only constants. The evaluator scores them directly; nothing trains."""

# region alpha
A = 0.0
WIDTH = 32
PRECISION = 16
# endregion alpha

# region beta
B = 1.0
# endregion beta
