"""Adapters for the real tasks: Parameter Golf, NanoChat-D12 and CIFAR-10 Airbench96, run from a
checkout of the upstream repository on GPU nodes.

An adapter is built from options (`autorecipe run --env parameter-golf --env-opt upstream=PATH
--env-opt data=PATH`): where the checkout and the data are, how many GPUs a trial gets, and the
budgets. The recipe is the upstream file(s) the reference system's specialists edit; the harness
(in harness/) launches the upstream entry point the way its README does; the executor times and
kills each part on its own clock (spec.Stage); the evaluator reads the upstream log lines and
recomputes what the rules say must not be taken from the log (artifact bytes, per-seed times).
"""
